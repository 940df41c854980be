/**
 * Reading the history: search over jobs (newest first, cursor-paged, every
 * filter on an index: queue, name, state, key, time, full text, payload
 * containment), a job's timeline (every event and every attempt), one job's
 * last known state (for lookups once Redis has let a finished job go).
 * Bad input is INVALID_REQUEST naming the parameter, before any query; a
 * database that cannot be reached is HISTORY_UNAVAILABLE (503).
 */
import { ConveyorError, isConveyorError } from '../errors.ts';
import { isValidQueueName } from '../queue/names.ts';
import { createPool, isConnectionError, type PgPool } from './pg.ts';
import { migrate, SCHEMA } from './schema.ts';
import { HISTORY_STATES, type EventType, type JobStateName } from './translate.ts';

const S = SCHEMA;
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 500;

export interface HistorySearch {
  queue?: string;
  name?: string;
  /** waiting, delayed, active, completed, failed, dead, dropped, removed */
  state?: string;
  key?: string;
  /** Enqueued at or after / before (ISO 8601 or epoch ms). */
  since?: string | number | Date;
  until?: string | number | Date;
  /** Words in the job's name, id, key, last error or payload. */
  q?: string;
  /** Payload fields: { "user.id": 42 } matches jobs whose data.user.id is 42 (or "42"). */
  data?: Readonly<Record<string, unknown>>;
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

export interface HistoryJob {
  queue: string;
  id: string;
  name: string | null;
  key: string | null;
  state: JobStateName;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Starts in the job's current life (a replay starts again at 0). */
  attempts: number;
  failures: number;
  worker: string | null;
  durationMs: number | null;
  resultBytes: number | null;
  errorCode: string | null;
  error: string | null;
  /** The payload when kept whole; otherwise payloadOmitted says why: off (HISTORY_PAYLOAD_OFF), too-large (payloadHead, payloadHash), not-json, gone (Redis no longer had it). */
  data: unknown;
  payloadOmitted: string | null;
  payloadBytes: number | null;
  payloadHash: string | null;
  payloadHead: string | null;
}

export interface HistoryPage {
  jobs: HistoryJob[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next: string | null;
}

export interface HistoryEventView {
  at: string;
  type: EventType;
  attempt: number | null;
  worker: string | null;
  host: string | null;
  durationMs: number | null;
  resultBytes: number | null;
  errorCode: string | null;
  error: string | null;
  errorFingerprint: string | null;
  /** Who replayed or dropped it (the dashboard's audit log). */
  actor: string | null;
  final?: boolean;
}

export interface HistoryAttempt {
  attempt: number;
  worker: string | null;
  host: string | null;
  startedAt: string;
  endedAt: string | null;
  /** running: no end recorded yet. */
  outcome: 'completed' | 'failed' | 'stalled' | 'requeued' | 'running';
  durationMs: number | null;
  error: { code: string | null; message: string | null; fingerprint: string | null } | null;
}

export interface HistoryTimeline {
  queue: string;
  id: string;
  job: HistoryJob | null;
  events: HistoryEventView[];
  attempts: HistoryAttempt[];
}

export interface HistoryGap {
  queue: string | null;
  stream: string;
  from: string;
  to: string;
  missing: number | null;
  detectedAt: string;
}

function bad(param: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_REQUEST', `query parameter "${param}" ${why}`, { parameter: param });
}

function time(param: string, v: unknown): Date | undefined {
  if (v === undefined || v === '') return undefined;
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v;
  const ms = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw bad(param, `must be an ISO 8601 date-time or epoch milliseconds, not ${JSON.stringify(v)}`);
  return new Date(ms);
}

function text(param: string, v: unknown, max: number): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw bad(param, 'must be a string');
  if (v.length > max || /\p{Cc}/u.test(v)) throw bad(param, `must be 1-${max} printable characters`);
  return v;
}

/** data.<path>=<value> → the two jsonb documents it may match (the value as JSON, and as a string). */
function dataFilters(data: Readonly<Record<string, unknown>>): string[][] {
  const out: string[][] = [];
  for (const [path, raw] of Object.entries(data)) {
    const param = `data.${path}`;
    const parts = path.split('.');
    if (path === '' || parts.length > 10 || parts.some((p) => p === '' || p.length > 128)) throw bad(param, 'needs a path of 1-10 non-empty field names separated by "."');
    const values: unknown[] = [];
    if (typeof raw === 'string') {
      values.push(raw);
      try {
        const parsed = JSON.parse(raw) as unknown;
        if (parsed === null || typeof parsed !== 'object') if (parsed !== raw) values.push(parsed);
      } catch {
        // a plain string
      }
    } else if (raw === null || ['number', 'boolean'].includes(typeof raw)) values.push(raw);
    else throw bad(param, 'must be a string, number, boolean or null');
    out.push(values.map((v) => JSON.stringify(parts.reduceRight<unknown>((inner, k) => ({ [k]: inner }), v))));
  }
  return out;
}

interface CursorValue {
  at: string;
  queue: string;
  id: string;
}

function encodeCursor(c: CursorValue): string {
  return Buffer.from(JSON.stringify([c.at, c.queue, c.id])).toString('base64url');
}

function decodeCursor(raw: string): CursorValue {
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string')) {
      const [at, queue, id] = v as [string, string, string];
      if (Number.isFinite(Date.parse(at))) return { at, queue, id };
    }
  } catch {
    // below
  }
  throw bad('cursor', 'is not a cursor this API gave (use the "next" of the previous page)');
}

const isoOf = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : new Date(String(v)).toISOString());

function toJob(r: Record<string, any>): HistoryJob {
  return {
    queue: r.queue, id: r.job_id, name: r.name, key: r.key, state: r.state, createdAt: isoOf(r.created_at)!, updatedAt: isoOf(r.updated_at)!,
    startedAt: isoOf(r.started_at), finishedAt: isoOf(r.finished_at), attempts: r.attempts, failures: r.failures, worker: r.worker,
    durationMs: r.duration_ms, resultBytes: r.result_bytes, errorCode: r.error_code, error: r.error_message,
    data: r.payload ?? null, payloadOmitted: r.payload_omitted, payloadBytes: r.payload_bytes, payloadHash: r.payload_hash, payloadHead: r.payload_head,
  };
}

function toEvent(r: Record<string, any>): HistoryEventView {
  const e: HistoryEventView = {
    at: isoOf(r.at)!, type: r.type, attempt: r.attempt, worker: r.worker, host: r.host, durationMs: r.duration_ms, resultBytes: r.result_bytes,
    errorCode: r.error_code, error: r.error_message, errorFingerprint: r.error_fingerprint, actor: r.actor,
  };
  if (r.detail?.final === true) e.final = true;
  return e;
}

/** Every attempt from the events: a start opens one; its failure, completion, stall or hand-back closes it. */
export function attemptsOf(events: readonly HistoryEventView[]): HistoryAttempt[] {
  const out: HistoryAttempt[] = [];
  let open: HistoryAttempt | undefined;
  for (const e of events) {
    if (e.type === 'started') {
      open = { attempt: e.attempt ?? out.length + 1, worker: e.worker, host: e.host, startedAt: e.at, endedAt: null, outcome: 'running', durationMs: null, error: null };
      out.push(open);
    } else if (open && (e.type === 'completed' || e.type === 'failed' || e.type === 'stalled' || e.type === 'requeued')) {
      open.endedAt = e.at;
      open.outcome = e.type;
      open.durationMs = Date.parse(e.at) - Date.parse(open.startedAt);
      if (e.type === 'failed') open.error = { code: e.errorCode, message: e.error, fingerprint: e.errorFingerprint };
      open = undefined;
    }
  }
  return out;
}

/** Parses a search (the API's query or the library's object); throws INVALID_REQUEST naming the parameter. */
export function parseSearch(s: HistorySearch): Required<Pick<HistorySearch, 'limit'>> & { queue?: string; name?: string; state?: JobStateName; key?: string; since?: Date; until?: Date; q?: string; data: string[][]; cursor?: CursorValue } {
  if (s === null || typeof s !== 'object') throw new ConveyorError('INVALID_REQUEST', 'a history search is an object ({ queue, name, state, … })');
  const queue = text('queue', s.queue, 64);
  if (queue !== undefined && !isValidQueueName(queue)) throw bad('queue', 'must be a queue name: 1-64 characters of A-Z a-z 0-9 . _ -');
  const state = text('state', s.state, 32);
  if (state !== undefined && !(HISTORY_STATES as readonly string[]).includes(state)) throw bad('state', `must be one of ${HISTORY_STATES.join(', ')}, not ${JSON.stringify(state)}`);
  const since = time('since', s.since);
  const until = time('until', s.until);
  if (since && until && since > until) throw bad('until', 'must not be before "since"');
  const limit = s.limit ?? HISTORY_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_MAX_LIMIT) throw bad('limit', `must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`);
  const q = text('q', s.q, 200);
  return {
    queue, name: text('name', s.name, 128), state: state as JobStateName | undefined, key: text('key', s.key, 128), since, until,
    q: q !== undefined && q.trim() === '' ? undefined : q, limit, data: dataFilters(s.data ?? {}),
    cursor: s.cursor === undefined || s.cursor === '' ? undefined : decodeCursor(String(s.cursor)),
  };
}

export class HistoryStore {
  private readonly pool: PgPool;
  private ready: Promise<void> | undefined;

  constructor(url: string, opts: { name?: string; statementTimeoutMs?: number } = {}) {
    this.pool = createPool(url, { name: opts.name ?? 'conveyor-history', statementTimeoutMs: opts.statementTimeoutMs ?? 10_000, connectTimeoutMs: 3000 });
  }

  /** Runs a query; the schema is made on first use (a library may query before any archiver ran). */
  private async query(sql: string, params: unknown[]): Promise<Record<string, any>[]> {
    try {
      this.ready ??= (async () => {
        const c = await this.pool.connect();
        try {
          await migrate(c);
        } finally {
          c.release();
        }
      })().catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
      await this.ready;
      return (await this.pool.query(sql, params)).rows;
    } catch (err) {
      if (isConveyorError(err)) throw err;
      const code = (err as { code?: unknown }).code;
      if (isConnectionError(err) || code === '57014') {
        throw new ConveyorError('HISTORY_UNAVAILABLE', `the history database did not answer (${(err as Error).message}); retry later`, undefined, { cause: err });
      }
      throw err;
    }
  }

  async search(input: HistorySearch): Promise<HistoryPage> {
    const s = parseSearch(input);
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (s.queue) where.push(`queue = ${p(s.queue)}`);
    if (s.name) where.push(`name = ${p(s.name)}`);
    if (s.state) where.push(`state = ${p(s.state)}`);
    if (s.key) where.push(`key = ${p(s.key)}`);
    if (s.since) where.push(`created_at >= ${p(s.since.toISOString())}`);
    if (s.until) where.push(`created_at < ${p(s.until.toISOString())}`);
    if (s.q) where.push(`search @@ plainto_tsquery('simple', ${p(s.q)})`);
    for (const docs of s.data) where.push(`(${docs.map((d) => `payload @> ${p(d)}::jsonb`).join(' OR ')})`);
    if (s.cursor) where.push(`(created_at, queue, job_id) < (${p(s.cursor.at)}::timestamptz, ${p(s.cursor.queue)}, ${p(s.cursor.id)})`);
    const sql = `SELECT * FROM ${S}.jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, queue DESC, job_id DESC LIMIT ${s.limit + 1}`;
    const rows = await this.query(sql, params);
    const jobs = rows.slice(0, s.limit).map(toJob);
    const last = rows.length > s.limit ? rows[s.limit - 1]! : undefined;
    return { jobs, next: last ? encodeCursor({ at: (last.created_at as Date).toISOString(), queue: last.queue, id: last.job_id }) : null };
  }

  /** Every event and attempt of a job (oldest first); undefined when history has none. */
  async timeline(queue: string, id: string): Promise<HistoryTimeline | undefined> {
    const [events, jobs] = await Promise.all([
      this.query(`SELECT * FROM ${S}.events WHERE queue = $1 AND job_id = $2 ORDER BY at, event_id`, [queue, id]),
      this.query(`SELECT * FROM ${S}.jobs WHERE queue = $1 AND job_id = $2 ORDER BY created_at DESC LIMIT 1`, [queue, id]),
    ]);
    if (events.length === 0 && jobs.length === 0) return undefined;
    const views = events.map(toEvent);
    return { queue, id, job: jobs[0] ? toJob(jobs[0]) : null, events: views, attempts: attemptsOf(views) };
  }

  /** A job's last known state in history. */
  async job(queue: string, id: string): Promise<HistoryJob | undefined> {
    const rows = await this.query(`SELECT * FROM ${S}.jobs WHERE queue = $1 AND job_id = $2 ORDER BY created_at DESC LIMIT 1`, [queue, id]);
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** Where history is missing events (newest first). */
  async gaps(limit = 20): Promise<HistoryGap[]> {
    const rows = await this.query(`SELECT * FROM ${S}.gaps ORDER BY to_at DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({ queue: r.queue, stream: r.stream, from: isoOf(r.from_at)!, to: isoOf(r.to_at)!, missing: r.missing, detectedAt: isoOf(r.detected_at)! }));
  }

  close(): Promise<void> {
    return this.pool.end().catch(() => {});
  }
}
