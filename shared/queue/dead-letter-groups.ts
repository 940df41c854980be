/**
 * Dead letters across every queue: newest first, grouped by an error
 * fingerprint, and bulk replay / drop of a chosen set (ids, a group, all),
 * with a dry run that counts what an action would touch.
 *
 * Reading is bounded: at most `maxScan` dead letters are read per call, the
 * newest across all queues (a k-way merge over each dead-letter queue read in
 * pages of 200), and the answer says when it stopped short. Each dead letter
 * is still replayed or dropped through DeadLetters, one at a time, so every
 * step stays idempotent.
 */
import { createHash } from 'node:crypto';
import { DeadLetters, toDeadLetter, type DeadLetter } from './dead-letter.ts';
import type { QueueSet } from './queue-set.ts';
import { keys } from './names.ts';
import { isConveyorError } from '../errors.ts';

export interface DeadRef {
  queue: string;
  id: string;
}

export interface DeadGroup {
  fingerprint: string;
  /** The normalised message (numbers, ids and times replaced) the group is named by. */
  pattern: string;
  /** One real message of the group. */
  sample: string;
  count: number;
  byQueue: Record<string, number>;
  newestAt: string | null;
  oldestAt: string | null;
}

/** What a bulk action may select: some dead letters, one group, or everything (optionally in one queue). */
export type DeadSelection =
  | { kind: 'ids'; refs: DeadRef[] }
  | { kind: 'group'; fingerprint: string; queue?: string }
  | { kind: 'all'; queue?: string };

export interface DeadScan {
  /** Newest first, after the queue / group filter. */
  letters: DeadLetter[];
  groups: DeadGroup[];
  /** Dead letters in every queue looked at (exact, from counts). */
  totalDead: number;
  /** How many were read; less than totalDead when maxScan stopped the scan. */
  scanned: number;
  truncated: boolean;
}

export const DEFAULT_MAX_SCAN = 2000;
/** Bulk actions resolve at most this many dead letters per request. */
export const MAX_BULK = 10_000;
const PAGE = 200;

/** The first line of an error with the parts that vary between occurrences replaced. */
export function errorPattern(message: string | null | undefined): string {
  const first = (message ?? '').split('\n')[0]!.trim();
  if (first === '') return '(no error message)';
  return first
    .replace(/\d{4}-\d{2}-\d{2}[T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?/g, '<time>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
}

export function fingerprint(message: string | null | undefined): string {
  return createHash('sha1').update(errorPattern(message)).digest('hex').slice(0, 12);
}

/** "queue:id" — queue names never hold ":", so the first ":" splits (ids may hold more, e.g. repeat:x:123). */
export function refKey(r: DeadRef): string {
  return `${r.queue}:${r.id}`;
}

export function parseRefKey(s: string): DeadRef | undefined {
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) return undefined;
  return { queue: s.slice(0, i), id: s.slice(i + 1) };
}

export class DeadLetterGroups {
  private readonly queues: QueueSet;
  readonly deadLetters: DeadLetters;

  constructor(queues: QueueSet) {
    this.queues = queues;
    this.deadLetters = new DeadLetters(queues);
  }

  /** The newest `maxScan` dead letters (of one queue, or all), with their groups; `group` narrows the letters, not the groups. */
  async scan({ queue, group, maxScan = DEFAULT_MAX_SCAN }: { queue?: string; group?: string; maxScan?: number } = {}): Promise<DeadScan> {
    const names = queue ? [queue] : (await this.queues.connection.smembers(keys.queueRegistry)).sort();
    const counts = await Promise.all(names.map((n) => this.deadLetters.count(n)));
    const totalDead = counts.reduce((a, b) => a + b, 0);
    const read = await this.newestFirst(names.filter((_, i) => counts[i]! > 0), maxScan);
    const groups = new Map<string, DeadGroup>();
    const letters: DeadLetter[] = [];
    for (const d of read) {
      const fp = fingerprint(d.failedReason);
      let g = groups.get(fp);
      if (!g) {
        g = { fingerprint: fp, pattern: errorPattern(d.failedReason), sample: d.failedReason.split('\n')[0] || '(no error message)', count: 0, byQueue: {}, newestAt: d.deadAt, oldestAt: d.deadAt };
        groups.set(fp, g);
      }
      g.count++;
      g.byQueue[d.queue] = (g.byQueue[d.queue] ?? 0) + 1;
      g.oldestAt = d.deadAt; // read newest first
      if (!group || group === fp) letters.push(d);
    }
    return {
      letters,
      groups: [...groups.values()].sort((a, b) => b.count - a.count || (b.newestAt ?? '').localeCompare(a.newestAt ?? '')),
      totalDead,
      scanned: read.length,
      truncated: read.length < totalDead,
    };
  }

  /** The dead letters a selection names that exist now (at most MAX_BULK). */
  async resolve(sel: DeadSelection): Promise<DeadRef[]> {
    if (sel.kind === 'ids') {
      const seen = new Set<string>();
      const refs = sel.refs.filter((r) => !seen.has(refKey(r)) && seen.add(refKey(r))).slice(0, MAX_BULK);
      const exists = await Promise.all(refs.map(async (r) => (await this.queues.dead(r.queue).getJobState(r.id)) !== 'unknown'));
      return refs.filter((_, i) => exists[i]);
    }
    const scan = await this.scan({ queue: sel.queue, group: sel.kind === 'group' ? sel.fingerprint : undefined, maxScan: MAX_BULK });
    return scan.letters.map((d) => ({ queue: d.queue, id: d.id }));
  }

  /** Dry run: how many dead letters an action on the selection would touch, by queue; nothing changes. */
  async plan(sel: DeadSelection): Promise<{ total: number; byQueue: Record<string, number>; missing: number; refs: DeadRef[] }> {
    const refs = await this.resolve(sel);
    const byQueue: Record<string, number> = {};
    for (const r of refs) byQueue[r.queue] = (byQueue[r.queue] ?? 0) + 1;
    const asked = sel.kind === 'ids' ? new Set(sel.refs.map(refKey)).size : refs.length;
    return { total: refs.length, byQueue, missing: asked - refs.length, refs };
  }

  /** Replays exactly these dead letters; ones already gone are counted as missing, not errors. */
  async replay(refs: DeadRef[]): Promise<{ done: DeadRef[]; missing: DeadRef[] }> {
    return this.each(refs, (r) => this.deadLetters.replay(r.queue, r.id));
  }

  async drop(refs: DeadRef[]): Promise<{ done: DeadRef[]; missing: DeadRef[] }> {
    return this.each(refs, (r) => this.deadLetters.drop(r.queue, r.id));
  }

  private async each(refs: DeadRef[], fn: (r: DeadRef) => Promise<unknown>): Promise<{ done: DeadRef[]; missing: DeadRef[] }> {
    const done: DeadRef[] = [];
    const missing: DeadRef[] = [];
    for (const r of refs.slice(0, MAX_BULK)) {
      try {
        await fn(r);
        done.push(r);
      } catch (err) {
        if (!isConveyorError(err, 'DEAD_LETTER_NOT_FOUND')) throw err;
        missing.push(r);
      }
    }
    return { done, missing };
  }

  /** K-way merge of each queue's dead letters (each list is newest at its head), read in pages. */
  private async newestFirst(names: string[], max: number): Promise<DeadLetter[]> {
    const cursors = names.map((name) => ({ name, next: 0, buf: [] as DeadLetter[], exhausted: false }));
    const out: DeadLetter[] = [];
    const seen = new Set<string>();
    while (out.length < max) {
      await Promise.all(
        cursors
          .filter((c) => c.buf.length === 0 && !c.exhausted)
          .map(async (c) => {
            const jobs = (await this.queues.dead(c.name).getJobs(['waiting'], c.next, c.next + PAGE - 1, false)).filter(Boolean);
            c.next += PAGE;
            if (jobs.length < PAGE) c.exhausted = true;
            c.buf = jobs.map((j) => toDeadLetter(c.name, j)).sort((a, b) => (b.deadAt ?? '').localeCompare(a.deadAt ?? ''));
          }),
      );
      let best: (typeof cursors)[number] | undefined;
      for (const c of cursors) {
        if (c.buf.length > 0 && (!best || (c.buf[0]!.deadAt ?? '') > (best.buf[0]!.deadAt ?? ''))) best = c;
      }
      if (!best) break;
      const d = best.buf.shift()!;
      const k = refKey(d);
      if (!seen.has(k)) {
        seen.add(k);
        out.push(d);
      }
    }
    return out;
  }
}
