/**
 * Choosing dead letters for a bulk action (replay or drop by error text, or
 * a dry run of either): pages through DeadLetters.list, keeping only what the
 * action and its report need. Used by the CLI; the actions are DeadLetters'.
 */
import { isConveyorError } from '../errors.ts';
import type { DeadLetters } from './dead-letter.ts';

export interface SelectedDeadLetter {
  id: string;
  name: string;
  failedReason: string;
  deadAt: string | null;
}

const PAGE = 500;

/**
 * Every dead letter of the queue, newest first, or those whose error
 * message (failedReason) contains `match`, case-insensitive. `limit` stops early (dry-run previews).
 */
export async function selectDeadLetters(
  deadLetters: DeadLetters,
  queue: string,
  { match, limit = Infinity, onProgress }: { match?: string | undefined; limit?: number; onProgress?: (scanned: number, total: number) => void } = {},
): Promise<{ selected: SelectedDeadLetter[]; scanned: number }> {
  const needle = match?.toLowerCase();
  const selected: SelectedDeadLetter[] = [];
  let offset = 0;
  for (;;) {
    const page = await deadLetters.list(queue, offset, PAGE);
    for (const d of page.jobs) {
      if (needle === undefined || d.failedReason.toLowerCase().includes(needle)) {
        selected.push({ id: d.id, name: d.name, failedReason: d.failedReason, deadAt: d.deadAt });
        if (selected.length >= limit) return { selected, scanned: offset + page.jobs.indexOf(d) + 1 };
      }
    }
    offset += page.jobs.length;
    onProgress?.(offset, page.total);
    if (page.jobs.length === 0 || offset >= page.total) return { selected, scanned: offset };
  }
}

/**
 * Runs `action` on each id in turn; an id that is no longer a dead letter
 * (replayed or dropped meanwhile) is counted as gone, not as a failure.
 */
export async function forEachDeadLetter(
  ids: readonly string[],
  action: (id: string) => Promise<unknown>,
  onProgress?: (done: number, total: number) => void,
): Promise<{ done: number; gone: number }> {
  let done = 0;
  let gone = 0;
  for (const id of ids) {
    try {
      await action(id);
      done++;
    } catch (err) {
      if (!isConveyorError(err, 'DEAD_LETTER_NOT_FOUND')) throw err;
      gone++;
    }
    onProgress?.(done + gone, ids.length);
  }
  return { done, gone };
}
