/**
 * Finding jobs: by id across every queue (a direct lookup per queue), and by
 * name or by a substring of data or error through a bounded scan.
 *
 * Redis has no index of job contents, so the scan walks each queue's state
 * structures (active, wait, prioritized, delayed, failed, completed, dead
 * letters) in pages of at most 200 ids (LRANGE / ZRANGE by rank) and reads
 * just the fields it matches (HMGET, pipelined). One call examines at most
 * `budget` jobs and answers with a cursor to go on from, so a search never
 * holds Redis for long and the caller always shows how far it got.
 */
import type { Queue } from 'bullmq';
import type { QueueSet } from './queue-set.ts';
import type { Inspector, JobState } from './inspector.ts';
import { isReservedJobId } from './inspector.ts';

export type SearchMode = 'id' | 'name' | 'text';

export interface SearchHit {
  queue: string;
  id: string;
  name: string;
  state: JobState;
  createdAt: string | null;
  /** Where the text was found. */
  match: 'id' | 'name' | 'data' | 'error';
  /** A few words around the match. */
  snippet?: string;
}

export interface SearchPage {
  hits: SearchHit[];
  /** Jobs examined by this call. */
  scanned: number;
  /** Jobs in the structures searched (all calls together would examine about this many). */
  total: number;
  /** Pass back to go on; absent when the scan reached the end. */
  cursor?: string;
  budget: number;
}

type Kind = 'list' | 'zset';
interface Structure {
  name: string;
  kind: Kind;
  state: JobState;
  dead?: boolean;
}

/** In the order searched: what is happening now first, history last. */
const STRUCTURES: readonly Structure[] = [
  { name: 'active', kind: 'list', state: 'active' },
  { name: 'wait', kind: 'list', state: 'waiting' },
  { name: 'paused', kind: 'list', state: 'waiting' },
  { name: 'prioritized', kind: 'zset', state: 'waiting' },
  { name: 'delayed', kind: 'zset', state: 'delayed' },
  { name: 'failed', kind: 'zset', state: 'failed' },
  { name: 'completed', kind: 'zset', state: 'completed' },
  { name: 'wait', kind: 'list', state: 'dead', dead: true },
];

const PAGE = 200;
export const DEFAULT_BUDGET = 2000;
export const DEFAULT_MAX_HITS = 50;

interface Cursor {
  q: string;
  s: number;
  o: number;
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');
function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (!raw) return undefined;
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Cursor;
    return typeof c.q === 'string' && Number.isInteger(c.s) && Number.isInteger(c.o) && c.o >= 0 ? c : undefined;
  } catch {
    return undefined;
  }
}

function snippet(text: string, at: number, len: number): string {
  const from = Math.max(0, at - 40);
  const to = Math.min(text.length, at + len + 40);
  return `${from > 0 ? '…' : ''}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
}

const iso = (ms: string | null | undefined) => (ms && Number(ms) > 0 ? new Date(Number(ms)).toISOString() : null);

export class JobSearch {
  private readonly queues: QueueSet;
  private readonly inspector: Inspector;

  constructor(queues: QueueSet, inspector: Inspector) {
    this.queues = queues;
    this.inspector = inspector;
  }

  /** The job with this id in every queue that has one (ids are per queue), dead letters included. */
  async byId(id: string): Promise<SearchHit[]> {
    const wanted = id.trim();
    if (wanted === '' || isReservedJobId(wanted)) return [];
    const names = await this.inspector.queueNames();
    const found = await Promise.all(names.map((q) => this.inspector.getJob(q, wanted).catch(() => undefined)));
    return found.flatMap((j) => (j ? [{ queue: j.queue, id: j.id, name: j.name, state: j.state, createdAt: j.createdAt, match: 'id' as const }] : []));
  }

  /** A bounded scan for a name (substring) or a substring of data or error, case-insensitive. */
  async scan(mode: 'name' | 'text', text: string, opts: { queue?: string; cursor?: string; budget?: number; maxHits?: number } = {}): Promise<SearchPage> {
    const budget = Math.max(1, opts.budget ?? DEFAULT_BUDGET);
    const maxHits = opts.maxHits ?? DEFAULT_MAX_HITS;
    const needle = text.trim().toLowerCase();
    const names = opts.queue ? [opts.queue] : await this.inspector.queueNames();
    const total = await this.size(names);
    const hits: SearchHit[] = [];
    let scanned = 0;
    const start = decodeCursor(opts.cursor);
    let qi = start ? names.findIndex((n) => n >= start.q) : 0;
    if (qi === -1) return { hits, scanned, total, budget };
    let si = start && names[qi] === start.q ? start.s : 0;
    let off = start && names[qi] === start.q ? start.o : 0;

    while (qi < names.length && needle !== '') {
      const queue = names[qi]!;
      const st = STRUCTURES[si];
      if (!st) {
        qi++;
        si = 0;
        off = 0;
        continue;
      }
      if (scanned >= budget || hits.length >= maxHits) return { hits, scanned, total, budget, cursor: encodeCursor({ q: queue, s: si, o: off }) };
      const bq = st.dead ? this.queues.dead(queue) : this.queues.source(queue);
      const n = Math.min(PAGE, budget - scanned);
      const ids = await this.page(bq, st, off, n);
      scanned += ids.length;
      for (const hit of await this.match(queue, bq, st, ids, mode, needle)) if (hits.length < maxHits) hits.push(hit);
      if (ids.length < n) {
        si++;
        off = 0;
      } else {
        off += ids.length;
      }
    }
    return { hits, scanned, total, budget };
  }

  private page(bq: Queue, st: Structure, off: number, n: number): Promise<string[]> {
    const key = bq.keys[st.name as keyof typeof bq.keys] as string;
    const conn = this.queues.connection;
    // Finished jobs newest first: the recent ones are the ones people look for.
    return st.kind === 'list' ? conn.lrange(key, off, off + n - 1) : conn.zrevrange(key, off, off + n - 1);
  }

  private async match(queue: string, bq: Queue, st: Structure, ids: string[], mode: 'name' | 'text', needle: string): Promise<SearchHit[]> {
    if (ids.length === 0) return [];
    const p = this.queues.connection.pipeline();
    for (const id of ids) p.hmget(bq.toKey(id), 'name', 'data', 'failedReason', 'timestamp');
    const replies = (await p.exec()) ?? [];
    const hits: SearchHit[] = [];
    replies.forEach(([err, fields], i) => {
      if (err || !Array.isArray(fields)) return;
      const [name, data, failedReason, timestamp] = fields as (string | null)[];
      if (name === null || name === undefined) return; // removed since the page was read
      const base = { queue, id: ids[i]!, name, state: st.state, createdAt: iso(timestamp) };
      if (mode === 'name') {
        if (name.toLowerCase().includes(needle)) hits.push({ ...base, match: 'name' });
        return;
      }
      // A dead letter keeps the original data and error inside its envelope.
      let payload = data ?? '';
      let error = failedReason ?? '';
      if (st.dead) {
        try {
          const env = JSON.parse(payload) as { data?: unknown; failedReason?: string };
          payload = JSON.stringify(env.data ?? null);
          error = env.failedReason ?? '';
        } catch {
          // not an envelope: search it as it is
        }
      }
      const inData = payload.toLowerCase().indexOf(needle);
      if (inData !== -1) {
        hits.push({ ...base, match: 'data', snippet: snippet(payload, inData, needle.length) });
        return;
      }
      const inError = error.toLowerCase().indexOf(needle);
      if (inError !== -1) hits.push({ ...base, match: 'error', snippet: snippet(error, inError, needle.length) });
    });
    return hits;
  }

  /**
   * Jobs held in the structures of these queues (one pipelined LLEN / ZCARD
   * each). One pipeline per queue: a queue's keys share its hash slot, and on
   * Redis Cluster a pipeline may not span slots.
   */
  private async size(names: string[]): Promise<number> {
    const sizes = await Promise.all(
      names.map(async (q) => {
        const p = this.queues.connection.pipeline();
        for (const st of STRUCTURES) {
          const bq = st.dead ? this.queues.dead(q) : this.queues.source(q);
          const key = bq.keys[st.name as keyof typeof bq.keys] as string;
          if (st.kind === 'list') p.llen(key);
          else p.zcard(key);
        }
        const replies = (await p.exec()) ?? [];
        return replies.reduce((sum, [err, n]) => sum + (err ? 0 : Number(n) || 0), 0);
      }),
    );
    return sizes.reduce((a, b) => a + b, 0);
  }
}
