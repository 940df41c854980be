/**
 * Moving cron schedules to the new deployment so that no run is doubled and
 * none is lost for good. Per schedule:
 *
 *   1. write its definition on the new side, paused (no BullMQ scheduler yet)
 *   2. mark it on the new side: "resume" (it was running) or "keep"
 *   3. remove it on the old side (its scheduler and next run go with it)
 *   4. resume it on the new side if marked so, then drop the mark
 *
 * Both sides never run it at once. A crash leaves the mark, and the next run
 * finishes steps 3-4. A tick falling in the milliseconds between 3 and 4 is
 * skipped rather than doubled. A schedule the new side already has (the
 * SCHEDULES file of the new processes, or an earlier run) is kept as it is.
 */
import { isConveyorError } from '../errors.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { Schedules } from '../queue/schedules.ts';
import { migrateKeys } from './migrate-keys.ts';

export interface ScheduleTally {
  moved: string[];
  /** The new side already had a schedule with this id: kept as it is; the old one was removed. */
  alreadyThere: string[];
  /** Moves an interrupted run had begun, finished now. */
  finished: string[];
}

type Mark = 'resume' | 'keep';

async function finish(from: Schedules, to: Schedules, toConn: RedisConnection, id: string, mark: Mark): Promise<void> {
  await from.remove(id, { managedBy: 'config' }).catch((err: unknown) => {
    if (!isConveyorError(err, 'SCHEDULE_NOT_FOUND')) throw err;
  });
  if (mark === 'resume') await to.resume(id);
  await toConn.hdel(migrateKeys.schedules, id);
}

/** The ids of the schedules a run would move (all, or those of the given queues). */
export async function schedulesToMove(from: Schedules, queues: ReadonlySet<string> | undefined): Promise<string[]> {
  return [...(await from.store.readAll())].filter(([, s]) => !queues || queues.has(s.queue)).map(([id]) => id);
}

export async function moveSchedules(from: Schedules, to: Schedules, toConn: RedisConnection, queues: ReadonlySet<string> | undefined): Promise<ScheduleTally> {
  const tally: ScheduleTally = { moved: [], alreadyThere: [], finished: [] };
  for (const [id, mark] of Object.entries(await toConn.hgetall(migrateKeys.schedules))) {
    await finish(from, to, toConn, id, mark as Mark);
    tally.finished.push(id);
  }
  for (const [id, s] of await from.store.readAll()) {
    if (queues && !queues.has(s.queue)) continue;
    const r = await to.store.withLock(id, async (): Promise<{ mark: Mark; existed: boolean }> => {
      if (await to.store.read(id)) return { mark: 'keep', existed: true };
      await to.queues.register(s.queue);
      await to.store.write(id, { ...s, paused: true });
      return { mark: s.paused ? 'keep' : 'resume', existed: false };
    });
    await toConn.hset(migrateKeys.schedules, id, r!.mark);
    await finish(from, to, toConn, id, r!.mark);
    (r!.existed ? tally.alreadyThere : tally.moved).push(id);
  }
  return tally;
}
