/**
 * Replay or drop dead letters by selection — one id, a list, all, or those
 * whose error contains a text — with a dry run that changes nothing. The
 * library (conveyor.deadLetters), the CLI and the API all come here; the
 * moves themselves are DeadLetters'. A letter that is gone by the time its
 * turn comes (someone else acted first) counts as gone, not as a failure.
 */
import { ConveyorError } from '../errors.ts';
import type { DeadLetters } from './dead-letter.ts';
import { forEachDeadLetter, selectDeadLetters, type SelectedDeadLetter } from './dead-letter-selection.ts';

export type DeadLetterSelection = string | { ids: readonly string[] } | { all: true } | { match: string };

export interface DeadLetterActionOptions {
  /** Count and list what would be affected; change nothing. */
  dryRun?: boolean;
  /** Called as the action goes (long selections). */
  onProgress?: (done: number, total: number) => void;
}

export interface DeadLetterReport {
  queue: string;
  action: 'replay' | 'drop';
  dryRun: boolean;
  /** How many dead letters the selection covers. */
  selected: number;
  /** How many were replayed or dropped (0 in a dry run). */
  done: number;
  /** Selected, but gone by the time the action reached them. */
  gone?: number;
  /** The ids acted on (or, in a dry run of a match, that would be). */
  ids?: string[];
  /** A dry run's first letters (id, name, error, when). */
  preview?: SelectedDeadLetter[];
}

/** Dry-run previews list this many letters at most (the count is always exact). */
export const PREVIEW_SIZE = 20;

export function parseSelection(selection: unknown): { id: string } | { ids: string[] } | { all: true } | { match: string } {
  if (typeof selection === 'string' && selection !== '') return { id: selection };
  if (selection && typeof selection === 'object') {
    const s = selection as { ids?: unknown; all?: unknown; match?: unknown };
    const ways = [s.ids !== undefined, s.all !== undefined, s.match !== undefined].filter(Boolean).length;
    if (ways === 1) {
      if (Array.isArray(s.ids) && s.ids.every((i) => typeof i === 'string' && i !== '')) return { ids: [...new Set(s.ids as string[])] };
      if (s.all === true) return { all: true };
      if (typeof s.match === 'string' && s.match !== '') return { match: s.match };
    }
  }
  throw new ConveyorError('INVALID_REQUEST', 'a dead-letter selection is one id, { ids: [...] }, { all: true } or { match: "text" } (a non-empty text)');
}

export async function actOnDeadLetters(
  dl: DeadLetters,
  queue: string,
  action: 'replay' | 'drop',
  selection: DeadLetterSelection,
  { dryRun = false, onProgress }: DeadLetterActionOptions = {},
): Promise<DeadLetterReport> {
  const sel = parseSelection(selection);
  const act = (x: string) => (action === 'replay' ? dl.replay(queue, x) : dl.drop(queue, x));
  const base = { queue, action, dryRun };

  if ('id' in sel) {
    if (dryRun) {
      const d = await dl.get(queue, sel.id);
      if (!d) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `no dead letter "${sel.id}" in queue "${queue}"`, { queue, id: sel.id });
      return { ...base, selected: 1, done: 0, preview: [{ id: d.id, name: d.name, failedReason: d.failedReason, deadAt: d.deadAt }] };
    }
    await act(sel.id);
    return { ...base, selected: 1, done: 1, ids: [sel.id] };
  }
  if ('all' in sel) {
    const total = await dl.count(queue);
    if (dryRun) {
      const { selected } = await selectDeadLetters(dl, queue, { limit: PREVIEW_SIZE });
      return { ...base, selected: total, done: 0, preview: selected };
    }
    const run = action === 'replay' ? dl.replayAll.bind(dl) : dl.dropAll.bind(dl);
    const done = await run(queue, (n) => onProgress?.(n, total));
    return { ...base, selected: total, done };
  }
  let ids: string[];
  if ('match' in sel) {
    const { selected } = await selectDeadLetters(dl, queue, { match: sel.match });
    if (dryRun) return { ...base, selected: selected.length, done: 0, preview: selected.slice(0, PREVIEW_SIZE), ids: selected.map((s) => s.id) };
    ids = selected.map((s) => s.id);
  } else {
    ids = sel.ids;
    if (dryRun) {
      const found = (await Promise.all(ids.map((i) => dl.get(queue, i)))).filter((d) => d !== undefined);
      return { ...base, selected: found.length, done: 0, preview: found.slice(0, PREVIEW_SIZE).map((d) => ({ id: d.id, name: d.name, failedReason: d.failedReason, deadAt: d.deadAt })), ids: found.map((d) => d.id) };
    }
  }
  const r = await forEachDeadLetter(ids, act, onProgress);
  return { ...base, selected: ids.length, done: r.done, gone: r.gone, ids };
}
