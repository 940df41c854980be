/**
 * From what BullMQ writes to what history stores: the entries of a queue's
 * two event streams (the queue's and its dead-letter queue's), merged in
 * stream-id order, with a snapshot of each job's hash read right after,
 * become history events and each job's summary row. Pure: no I/O, so the
 * rules are testable on their own.
 *
 * What the streams say and what they do not (BullMQ 6.7):
 * - added {jobId, name}, active, completed {returnvalue}, failed
 *   {failedReason} (for good), stalled, removed {prev}, delayed, waiting
 *   {prev}. A failed attempt that will be retried is no event of its own:
 *   it is the "delayed" (backoff) or "waiting" with prev "active" that
 *   follows the job's "active".
 * - The job's name comes only with "added"; its payload, key, worker
 *   (processedBy), error stack and attempt counters only from the hash. The
 *   hash is read after the events, so it may describe a later moment: a
 *   field is used only when the hash's counters show it still describes the
 *   event's attempt (else it is left empty, never guessed).
 * - Attempt numbers are counted from the stream itself (the job's starts
 *   so far, kept in its summary row), so they are exact whatever the lag.
 */
import { createHash } from 'node:crypto';
import { ERROR_CODES } from '../errors.ts';
import { errorPattern } from '../queue/dead-letter-groups.ts';
import { durationBucket, emptyHistogram } from './durations.ts';

export type Source = 'queue' | 'dead';

export interface StreamEntry {
  source: Source;
  /** The stream entry id ("1712345678901-0"). */
  id: string;
  fields: Record<string, string>;
}

/** The hash fields the translation may use (null: absent). */
export interface Snapshot {
  name?: string | null;
  data?: string | null;
  opts?: string | null;
  /** attemptsStarted, attemptsMade, processedBy (the worker's name). */
  ats?: string | null;
  atm?: string | null;
  pb?: string | null;
  failedReason?: string | null;
  stacktrace?: string | null;
  /** The dead letter's data (its envelope: failedReason, stacktrace…), read for a final failure: the job's own hash is gone by then. */
  dead?: string | null;
}

export type EventType =
  | 'enqueued'
  | 'started'
  | 'failed'
  | 'completed'
  | 'stalled'
  | 'requeued'
  | 'dead-lettered'
  | 'replayed'
  | 'dropped'
  | 'removed';

export const EVENT_TYPES: readonly EventType[] = ['enqueued', 'started', 'failed', 'completed', 'stalled', 'requeued', 'dead-lettered', 'replayed', 'dropped', 'removed'];

export type JobStateName = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'dead' | 'dropped' | 'removed';
export const HISTORY_STATES: readonly JobStateName[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'dead', 'dropped', 'removed'];

export interface HistoryEvent {
  at: number;
  eventId: string;
  queue: string;
  jobId: string;
  name: string | null;
  type: EventType;
  attempt: number | null;
  worker: string | null;
  host: string | null;
  key: string | null;
  durationMs: number | null;
  resultBytes: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  errorFingerprint: string | null;
  actor: string | null;
  detail: Record<string, unknown> | null;
}

/** A job's summary row. */
export interface JobRow {
  createdAt: number;
  queue: string;
  jobId: string;
  name: string | null;
  key: string | null;
  state: JobStateName;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  failures: number;
  worker: string | null;
  durationMs: number | null;
  resultBytes: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  payload: string | null;
  payloadBytes: number | null;
  payloadHash: string | null;
  payloadHead: string | null;
  payloadOmitted: string | null;
}

export interface PayloadPolicy {
  /** Payloads up to this many bytes are kept whole; larger ones as their hash and first KB. */
  maxBytes: number;
  /** Job names whose payloads are never kept ("*": none are). */
  off: ReadonlySet<string>;
}

export interface HourStat {
  hour: number;
  queue: string;
  name: string;
  enqueued: number;
  started: number;
  completed: number;
  failed: number;
  dead: number;
  durationMsSum: number;
  durationMsMax: number;
  /** Completed jobs' durations as a histogram (durations.ts). */
  durationHist: number[];
}

export interface Translation {
  events: HistoryEvent[];
  /** The summary rows this batch changed (new ones included). */
  jobs: JobRow[];
  stats: HourStat[];
}

/** The hash fields an event needs: only those are read (a payload or a stack is read only when used). */
export function neededFields(entries: readonly StreamEntry[], known: ReadonlySet<string>): Map<string, Set<keyof Snapshot>> {
  const need = new Map<string, Set<keyof Snapshot>>();
  const add = (id: string, ...f: (keyof Snapshot)[]) => {
    let s = need.get(id);
    if (!s) need.set(id, (s = new Set()));
    for (const x of f) s.add(x);
  };
  for (const e of entries) {
    const id = e.fields.jobId;
    if (!id) continue;
    if (e.source === 'dead') {
      if (e.fields.event === 'added') add(id, 'dead');
      continue;
    }
    if (e.fields.event === 'failed') add(id, 'dead');
    switch (e.fields.event) {
      case 'added':
        add(id, 'data', 'opts');
        break;
      case 'active':
        add(id, 'ats', 'pb');
        if (!known.has(id)) add(id, 'name', 'opts');
        break;
      case 'delayed':
      case 'waiting':
      case 'failed':
        add(id, 'atm', 'failedReason', 'stacktrace');
        if (!known.has(id)) add(id, 'name', 'opts');
        break;
      case 'completed':
      case 'stalled':
        if (!known.has(id)) add(id, 'name', 'opts');
        break;
    }
  }
  return need;
}

/** "1712345678901-3" → [ms, seq]. */
export function parseId(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash === -1 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am !== bm ? am - bm : as - bs;
}

/** Postgres text holds no NUL character. */
function clean(s: string | null | undefined, max = 4000): string | null {
  if (s === null || s === undefined) return null;
  const t = s.includes('\u0000') ? s.replace(/\u0000/g, '') : s;
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Conveyor's code a failure message starts with ("JOB_TIMEOUT: …"), else the error class of the stack ("TypeError"). */
export function errorCodeOf(message: string | null | undefined, stack: string | null | undefined): string | null {
  const m = /^([A-Z][A-Z0-9_]+):/.exec(message ?? '');
  if (m && m[1]! in ERROR_CODES) return m[1]!;
  const cls = /^([A-Za-z_$][\w$]*(?:Error|Exception))\b/.exec(stack ?? '');
  return cls ? cls[1]! : null;
}

/**
 * The same failure gives the same fingerprint: the stack's frames without
 * line and column numbers (code moves between deploys), or, without a
 * stack, the message with its numbers, ids and times masked.
 */
export function stackFingerprint(stack: string | null | undefined, message: string | null | undefined): string {
  const frames = (stack ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('at '))
    .slice(0, 12)
    .map((l) => l.replace(/:\d+:\d+\)?$/, '').replace(/\(?(?:file:\/\/)?\/.*\/([^/]+)$/, '$1'));
  const basis = frames.length > 0 ? `${(stack ?? '').split('\n')[0]!.split(':')[0]}\n${frames.join('\n')}` : errorPattern(message);
  return createHash('sha1').update(basis).digest('hex').slice(0, 12);
}

/** The last stack of BullMQ's stacktrace field (a JSON list, newest last). */
function lastStack(raw: string | null | undefined): string | null {
  if (!raw) return null;
  try {
    const list = JSON.parse(raw) as unknown;
    return Array.isArray(list) && typeof list[list.length - 1] === 'string' ? (list[list.length - 1] as string) : null;
  } catch {
    return null;
  }
}

/** A dead letter's envelope: the last error and stack of the job. */
function envelopeError(raw: string | null | undefined): { message: string | null; stack: string | null } | undefined {
  if (!raw) return undefined;
  try {
    const env = JSON.parse(raw) as { failedReason?: unknown; stacktrace?: unknown };
    const stacks = Array.isArray(env.stacktrace) ? env.stacktrace : [];
    const last = stacks[stacks.length - 1];
    return { message: typeof env.failedReason === 'string' ? env.failedReason : null, stack: typeof last === 'string' ? last : null };
  } catch {
    return undefined;
  }
}

function deadWorker(raw: string | null | undefined): { worker: string; attempts: number } | undefined {
  if (!raw) return undefined;
  try {
    const env = JSON.parse(raw) as { processedBy?: unknown; attemptsMade?: unknown };
    return typeof env.processedBy === 'string' && typeof env.attemptsMade === 'number' ? { worker: env.processedBy, attempts: env.attemptsMade } : undefined;
  } catch {
    return undefined;
  }
}

/** A worker id is host:pid:random; its host is what comes before the last two parts. */
export function hostOf(worker: string | null): string | null {
  if (!worker) return null;
  const parts = worker.split(':');
  return parts.length >= 3 ? parts.slice(0, -2).join(':') : null;
}

function keyOf(opts: string | null | undefined): string | null {
  if (!opts) return null;
  try {
    const o = JSON.parse(opts) as { key?: unknown };
    return typeof o.key === 'string' ? o.key : null;
  } catch {
    return null;
  }
}

const HEAD_BYTES = 1024;

/** How a payload is kept: whole (up to maxBytes), or its SHA-256 and first KB; never for a job name that is off. */
export function payloadColumns(name: string | null, data: string | null | undefined, policy: PayloadPolicy): Pick<JobRow, 'payload' | 'payloadBytes' | 'payloadHash' | 'payloadHead' | 'payloadOmitted'> {
  if (data === null || data === undefined) return { payload: null, payloadBytes: null, payloadHash: null, payloadHead: null, payloadOmitted: 'gone' };
  const bytes = Buffer.byteLength(data);
  if (policy.off.has('*') || (name !== null && policy.off.has(name))) return { payload: null, payloadBytes: bytes, payloadHash: null, payloadHead: null, payloadOmitted: 'off' };
  const hash = createHash('sha256').update(data).digest('hex');
  const head = () => clean(Buffer.from(data).subarray(0, HEAD_BYTES).toString('utf8'), HEAD_BYTES);
  if (bytes > policy.maxBytes) return { payload: null, payloadBytes: bytes, payloadHash: hash, payloadHead: head(), payloadOmitted: 'too-large' };
  // jsonb refuses \u0000 and anything that is not JSON: those are kept as text, not lost.
  let ok = !data.includes('\\u0000');
  if (ok) {
    try {
      JSON.parse(data);
    } catch {
      ok = false;
    }
  }
  if (!ok) return { payload: null, payloadBytes: bytes, payloadHash: hash, payloadHead: head(), payloadOmitted: 'not-json' };
  return { payload: data, payloadBytes: bytes, payloadHash: hash, payloadHead: null, payloadOmitted: null };
}

function newRow(queue: string, jobId: string, at: number, name: string | null, key: string | null): JobRow {
  return {
    createdAt: at, queue, jobId, name, key, state: 'waiting', updatedAt: at, startedAt: null, finishedAt: null, attempts: 0, failures: 0, worker: null,
    durationMs: null, resultBytes: null, errorCode: null, errorMessage: null, payload: null, payloadBytes: null, payloadHash: null, payloadHead: null, payloadOmitted: 'gone',
  };
}

const HOUR_MS = 3_600_000;

/**
 * Translates one queue's merged batch. `rows` holds the summary rows of the
 * batch's jobs that exist (changed in place, new ones added); `minAt` drops
 * events older than retention (their partitions are gone).
 */
export function translate(
  queue: string,
  entries: readonly StreamEntry[],
  snapshots: ReadonlyMap<string, Snapshot>,
  rows: Map<string, JobRow>,
  policy: PayloadPolicy,
  minAt = 0,
): Translation {
  const events: HistoryEvent[] = [];
  const touched = new Set<JobRow>();
  const stats = new Map<string, HourStat>();
  const lastOf = new Map<string, HistoryEvent>();
  const stat = (row: JobRow, at: number): HourStat => {
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    const name = row.name ?? '';
    const k = `${hour}|${name}`;
    let s = stats.get(k);
    if (!s) stats.set(k, (s = { hour, queue, name, enqueued: 0, started: 0, completed: 0, failed: 0, dead: 0, durationMsSum: 0, durationMsMax: 0, durationHist: emptyHistogram() }));
    return s;
  };

  for (const e of entries) {
    const jobId = e.fields.jobId;
    const kind = e.fields.event;
    if (!jobId || !kind) continue;
    const [at] = parseId(e.id);
    if (at < minAt) continue;
    const snap = snapshots.get(jobId);
    let row = rows.get(jobId);
    const ensure = (): JobRow => {
      if (!row) {
        row = newRow(queue, jobId, at, e.fields.name ?? snap?.name ?? null, keyOf(snap?.opts));
        rows.set(jobId, row);
      }
      return row;
    };
    const emit = (r: JobRow, type: EventType, extra: Partial<HistoryEvent> = {}) => {
      const ev: HistoryEvent = {
        at, eventId: `${queue}${e.source === 'dead' ? '.dead' : ''}/${e.id}`, queue, jobId, name: r.name, type, attempt: r.attempts || null, worker: null, host: null, key: r.key,
        durationMs: null, resultBytes: null, errorCode: null, errorMessage: null, errorFingerprint: null, actor: null, detail: null, ...extra,
      };
      events.push(ev);
      lastOf.set(jobId, ev);
      r.updatedAt = Math.max(r.updatedAt, at);
      touched.add(r);
    };
    /** The attempt that just ended failed: its error from the hash while the hash still describes it. */
    const attemptFailed = (r: JobRow, reason: string | null, final: boolean) => {
      r.failures++;
      const current = snap && Number(snap.atm ?? -1) === r.failures;
      const env = final ? envelopeError(snap?.dead) : undefined;
      const message = clean(reason ?? (current ? snap!.failedReason : null) ?? env?.message);
      const stack = current ? lastStack(snap!.stacktrace) : (env?.stack ?? null);
      const code = errorCodeOf(message, stack);
      r.errorCode = code;
      r.errorMessage = message;
      emit(r, 'failed', {
        worker: r.worker, host: hostOf(r.worker), errorCode: code, errorMessage: message,
        errorFingerprint: message !== null || stack !== null ? stackFingerprint(stack, message) : null,
        durationMs: r.startedAt !== null ? Math.max(0, at - r.startedAt) : null,
        detail: final ? { final: true } : null,
      });
      stat(r, at).failed++;
    };

    if (e.source === 'dead') {
      if (kind === 'added') {
        const r = ensure();
        r.name ??= e.fields.name ?? null;
        r.state = 'dead';
        r.finishedAt ??= at;
        const env = envelopeError(snap?.dead);
        const message = clean(env?.message ?? r.errorMessage);
        const stack = env?.stack ?? null;
        const code = errorCodeOf(message, stack) ?? r.errorCode;
        r.errorCode = code;
        r.errorMessage = message;
        emit(r, 'dead-lettered', { errorCode: code, errorMessage: message, errorFingerprint: message !== null || stack !== null ? stackFingerprint(stack, message) : null });
        stat(r, at).dead++;
      } else if (kind === 'removed' && row && row.state === 'dead') {
        // Removed while still dead: dropped. (A replay adds the job back first, so it is no longer dead here.)
        row.state = 'dropped';
        emit(row, 'dropped');
      }
      continue;
    }

    switch (kind) {
      case 'added': {
        const wasDead = row !== undefined && (row.state === 'dead' || row.state === 'dropped');
        const r = ensure();
        r.name = e.fields.name ?? r.name;
        const key = keyOf(snap?.opts);
        if (key !== null) r.key = key;
        if (snap?.data !== undefined) Object.assign(r, payloadColumns(r.name, snap.data, policy));
        const type: EventType = wasDead ? 'replayed' : 'enqueued';
        // A new life of the job (a replay, or its id enqueued again): BullMQ's counters start again, and so do ours.
        r.attempts = 0;
        r.failures = 0;
        r.state = 'waiting';
        r.startedAt = null;
        r.finishedAt = null;
        r.durationMs = null;
        r.resultBytes = null;
        emit(r, type);
        stat(r, at).enqueued++;
        break;
      }
      case 'active': {
        const r = ensure();
        r.attempts++;
        // processedBy is the worker of the latest start: ours only if the hash has seen no later one.
        // Once the job is a dead letter, its envelope names the worker of its last attempt.
        const env = snap?.ats == null ? deadWorker(snap?.dead) : undefined;
        const worker = snap && Number(snap.ats ?? -1) === r.attempts ? clean(snap.pb ?? null, 300) : env && env.attempts === r.attempts ? clean(env.worker, 300) : null;
        r.worker = worker;
        r.state = 'active';
        r.startedAt = at;
        emit(r, 'started', { worker, host: hostOf(worker) });
        stat(r, at).started++;
        break;
      }
      case 'completed': {
        const r = ensure();
        const duration = r.startedAt !== null ? Math.max(0, at - r.startedAt) : null;
        const size = e.fields.returnvalue !== undefined ? Buffer.byteLength(e.fields.returnvalue) : null;
        r.state = 'completed';
        r.finishedAt = at;
        r.durationMs = duration;
        r.resultBytes = size;
        r.errorCode = null;
        r.errorMessage = null;
        emit(r, 'completed', { worker: r.worker, host: hostOf(r.worker), durationMs: duration, resultBytes: size });
        const s = stat(r, at);
        s.completed++;
        if (duration !== null) {
          s.durationMsSum += duration;
          s.durationMsMax = Math.max(s.durationMsMax, duration);
          s.durationHist[durationBucket(duration)]!++;
        }
        break;
      }
      case 'failed': {
        const r = ensure();
        r.state = 'failed';
        r.finishedAt = at;
        attemptFailed(r, e.fields.failedReason ?? null, true);
        break;
      }
      case 'delayed': {
        const r = ensure();
        if (r.state === 'active') attemptFailed(r, null, false);
        r.state = 'delayed';
        break;
      }
      case 'waiting': {
        const r = ensure();
        if (e.fields.prev === 'active' && r.state === 'active') {
          // A retry without backoff counts an attempt (the hash's attemptsMade moved past ours); a hand-back does not.
          if (snap && Number(snap.atm ?? -1) > r.failures) attemptFailed(r, null, false);
          else emit(r, 'requeued', { worker: r.worker, host: hostOf(r.worker) });
        }
        r.state = 'waiting';
        break;
      }
      case 'stalled': {
        const r = ensure();
        // BullMQ's stalled check writes "waiting" (prev active) just before "stalled": one event, not two.
        const last = lastOf.get(jobId);
        if (last && last.type === 'requeued' && at - last.at <= 5) last.type = 'stalled';
        else emit(r, 'stalled', { worker: r.worker, host: hostOf(r.worker) });
        r.state = 'waiting';
        break;
      }
      case 'removed': {
        // prev "failed": the worker moving it to its dead letters (the dead stream says so).
        if (e.fields.prev === 'failed' || !row) break;
        row.state = 'removed';
        emit(row, 'removed', { detail: e.fields.prev ? { prev: e.fields.prev } : null });
        break;
      }
      default:
        break;
    }
  }
  return { events, jobs: [...touched], stats: [...stats.values()] };
}
