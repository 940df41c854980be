/**
 * Repair: bring every BullMQ job scheduler back in line with the schedule
 * index. BullMQ produces a scheduler's next job only when the current one
 * starts, so a next job deleted by hand (or lost with a crashed primary that
 * had not replicated it) stops the schedule for good; a crash between the
 * index write and the scheduler upsert leaves the two apart. Repair finds
 * both and re-upserts, and removes schedulers left behind in a queue a
 * schedule moved away from.
 *
 * Call it at worker start and then periodically, e.g.
 *   const stop = startScheduleRepair(schedules, logger, 60_000); ... stop();
 */
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { keys } from './names.ts';
import type { Schedules } from './schedules.ts';

export interface RepairReport {
  checked: number;
  repaired: { id: string; queue: string; reason: string }[];
  /** Schedules skipped because another process was changing them. */
  busy: string[];
}

export async function repairSchedules(schedules: Schedules, logger: Logger = silentLogger): Promise<RepairReport> {
  const report: RepairReport = { checked: 0, repaired: [], busy: [] };
  const all = await schedules.store.readAll();
  for (const [id] of all) {
    report.checked++;
    const done = await schedules.store.withLock(
      id,
      async () => {
        const s = await schedules.store.read(id); // re-read under the lock: it may have changed or gone
        if (!s) return true;
        const reason = await schedules.diagnose(id, s);
        if (!reason) return true;
        if (s.paused) await schedules.queues.source(s.queue).removeJobScheduler(id);
        else await schedules.upsertScheduler(id, s);
        report.repaired.push({ id, queue: s.queue, reason });
        logger.warn({ schedule: id, queue: s.queue, reason }, 'schedule repaired');
        return true;
      },
      { wait: false },
    );
    if (!done) report.busy.push(id);
  }

  // Schedulers of indexed schedules found in a queue that is not theirs (a move interrupted by a crash).
  // Schedulers whose id is not in the index are not Conveyor's to judge and are left alone.
  const registry = await schedules.queues.connection.smembers(keys.queueRegistry);
  for (const queue of registry.sort()) {
    for (const sch of await schedules.queues.source(queue).getJobSchedulers()) {
      const s = all.get(sch.key);
      if (!s || s.queue === queue) continue;
      await schedules.store.withLock(
        sch.key,
        async () => {
          const now = await schedules.store.read(sch.key);
          if (!now || now.queue === queue) return;
          await schedules.queues.source(queue).removeJobScheduler(sch.key);
          report.repaired.push({ id: sch.key, queue, reason: `left behind in queue "${queue}" after a move to "${now.queue}"` });
          logger.warn({ schedule: sch.key, queue, movedTo: now.queue }, 'removed a stale scheduler');
        },
        { wait: false },
      );
    }
  }
  return report;
}

/** Runs repairSchedules now and every intervalMs; returns a function that stops it. Failures are logged and retried next time. */
export function startScheduleRepair(schedules: Schedules, logger: Logger, intervalMs = 60_000): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await repairSchedules(schedules, logger);
    } catch (err) {
      logger.debug({ err: String(err) }, 'schedule repair failed; next time');
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
