/**
 * The SCHEDULES file: schedules declared in configuration, applied when the
 * server and each worker start. Config wins: file schedules are marked
 * managedBy "config", the API cannot replace or delete them (409
 * SCHEDULE_MANAGED_BY_CONFIG), a file entry takes over an API schedule with
 * the same id, and a config schedule no longer in the file is deleted.
 * Pause state survives re-applying (it is operational, not configuration).
 *
 * Format: a JSON array of {id, queue, name, cron, tz?, data?, opts?}.
 */
import { readFile } from 'node:fs/promises';
import { ConveyorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { parseScheduleFile } from './schedule-input.ts';
import type { Schedules } from './schedules.ts';

export interface ApplyResult {
  /** Ids created or replaced (or already identical) from the file. */
  applied: string[];
  /** Config schedules deleted because the file no longer has them. */
  removed: string[];
}

/**
 * Reads, validates and applies the file. The whole file is validated first:
 * one bad entry (CONFIG_INVALID naming the entry and field) applies nothing.
 */
export async function applyScheduleFile(
  schedules: Schedules,
  path: string,
  { maxPayloadBytes = 524_288, logger = silentLogger }: { maxPayloadBytes?: number; logger?: Logger } = {},
): Promise<ApplyResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConveyorError('CONFIG_INVALID', `SCHEDULES=${path}: cannot read the file (${(err as Error).message})`, { variable: 'SCHEDULES' }, { cause: err });
  }
  const wanted = parseScheduleFile(text, path, maxPayloadBytes);
  const result: ApplyResult = { applied: [], removed: [] };
  for (const [id, def] of wanted) {
    await schedules.put(id, { ...def }, { managedBy: 'config' });
    result.applied.push(id);
  }
  for (const [id, s] of await schedules.store.readAll()) {
    if (s.managedBy !== 'config' || wanted.has(id)) continue;
    await schedules.remove(id, { managedBy: 'config' }).catch((err: unknown) => {
      if (!(err instanceof ConveyorError && err.code === 'SCHEDULE_NOT_FOUND')) throw err; // another process removed it first
    });
    result.removed.push(id);
  }
  logger.info({ file: path, applied: result.applied.length, removed: result.removed }, 'schedules file applied');
  return result;
}
