/**
 * The archiver: copies every job event from Redis into the history database,
 * off the jobs' path (workers never wait for it, nor for Postgres).
 *
 * Source: what BullMQ already writes. Each queue has two event streams, its
 * own (conveyor:{q}:events) and its dead-letter queue's
 * (conveyor:{q}.dead:events); a batch of each is read (XRANGE from the stored
 * cursor), merged in id order, the jobs' hashes are read in one pipeline for
 * the fields the events lack (payload, key, worker, stack), and the batch is
 * translated (translate.ts) and written in one transaction: the events
 * (multi-row INSERT … SELECT FROM unnest), the jobs' summary rows, the
 * hourly stats, any gap, and the streams' cursors. Operator actions come from
 * the audit log (conveyor:audit), which names who replayed or dropped what.
 *
 * Exactly once: the cursors move in the same transaction as the rows they
 * produced, and that transaction first locks the queue (an advisory lock)
 * and checks the cursors are still where this archiver read from; if
 * another archiver moved them, the batch is thrown away and read again.
 * Each event also has a fixed identity (its stream and entry id, and the
 * time in it), inserted ON CONFLICT DO NOTHING. On top of that, one archiver
 * at a time works (a session advisory lock: the leader); the others stand by
 * and take over when its connection goes.
 *
 * Gaps: XINFO STREAM's max-deleted-entry-id past the cursor means Redis
 * trimmed events this archiver never read: a gap row (from, to) is written
 * with the cursor's move, and counted. Memory is bounded by one batch per
 * stream: when Postgres is down nothing is read ahead; Redis holds the
 * events (each queue's stream keeps HISTORY_STREAM_MAXLEN of them, set on
 * the queue's BullMQ meta) and the archiver catches up when it is back.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { HistoryConfig } from '../config/config.ts';
import { PREFIX, bullName, deadBullName, keys } from '../queue/names.ts';
import { connectClient, isConnectionError, type PgClient } from './pg.ts';
import { LOCK_LEADER, SCHEMA, dayOf, daysAhead, dropExpiredPartitions, ensurePartitions, listPartitions, migrate, retentionStart } from './schema.ts';
import { compareIds, neededFields, parseId, translate, type HistoryEvent, type JobRow, type Snapshot, type StreamEntry, type Source, type HourStat, type PayloadPolicy } from './translate.ts';

const S = SCHEMA;
/** The advisory-lock class of a queue's batches (pg_advisory_xact_lock(class, hashtext(queue))). */
const LOCK_QUEUE_CLASS = 0x0c0e7f10;
const LOCK_AUDIT = 0x0c0e_7f04;
const AUDIT_STREAM = keys.audit;
/** An operator's audit entry names jobs acted on within this long before it was written. */
const ATTRIBUTION_WINDOW_MS = 10 * 60_000;

export interface ArchiverOptions {
  /** A connection of its own (the archiver does not close it). */
  redis: RedisConnection;
  history: Readonly<HistoryConfig>;
  logger: Logger;
  /** Stream entries read per stream per batch (default 1000). */
  batchSize?: number;
  /** Pause between rounds that found nothing new (default 200 ms). */
  idleMs?: number;
  /** Only one archiver at a time works (default true); false: every archiver works, the cursor check keeps events single (tests). */
  exclusive?: boolean;
  /** How often partitions are made ahead and dropped past retention (default 1 h). */
  maintenanceMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface ArchiverGap {
  stream: string;
  queue: string | null;
  fromId: string;
  toId: string;
  fromAt: string;
  toAt: string;
}

export interface ArchiverStatus {
  state: 'stopped' | 'connecting' | 'standby' | 'archiving' | 'database-down';
  /** Events written since start (by this archiver). */
  eventsStored: number;
  batches: number;
  /** Gaps this archiver found since start. */
  gaps: number;
  lastGap: ArchiverGap | undefined;
  /** How far behind Redis the last round was: the newest event in a stream minus the cursor (ms, max over streams). */
  lagMs: number;
  lastError: string | undefined;
  /** When Postgres went down (ms), while it is. */
  downSince: number | undefined;
}

export interface ArchiverEvents {
  /** A round that read everything there was and found nothing more. */
  'caught-up': [];
  batch: [queue: string, events: number];
  gap: [gap: ArchiverGap];
  'database-down': [err: Error];
  'database-up': [];
}

interface StreamRead {
  key: string;
  source: Source;
  entries: StreamEntry[];
  full: boolean;
  info: StreamInfo;
}

/** Where a stream was read up to: the entry id, and its position among every entry ever added (null: unknown, Redis < 7). */
interface Cursor {
  id: string;
  pos: number | null;
}

interface StreamInfo {
  length: number;
  /** Entries ever added (Redis 7+). */
  added: number | undefined;
  firstId: string | undefined;
  lastId: string | undefined;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** XRANGE's reply: [[id, [field, value, …]], …]. */
function toEntries(source: Source, raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(([id, flat]: [string, string[]]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { source, id, fields };
  });
}

/** XINFO STREAM's flat reply, the fields used. */
function streamInfo(raw: unknown): StreamInfo {
  const info: StreamInfo = { length: 0, added: undefined, firstId: undefined, lastId: undefined };
  if (!Array.isArray(raw)) return info;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const v = raw[i + 1];
    if (raw[i] === 'length') info.length = Number(v);
    else if (raw[i] === 'entries-added') info.added = Number(v);
    else if (raw[i] === 'first-entry' && Array.isArray(v)) info.firstId = String(v[0]);
    else if (raw[i] === 'last-generated-id' && v !== '0-0') info.lastId = String(v);
  }
  return info;
}

/** The id just before one (XRANGE's exclusive start then begins at it). */
function before(id: string): string {
  const [ms, seq] = parseId(id);
  return seq > 0 ? `${ms}-${seq - 1}` : `${ms - 1}-999999999`;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class HistoryArchiver extends EventEmitter<ArchiverEvents> {
  private readonly o: Required<Omit<ArchiverOptions, 'now'>> & { now: () => number };
  private readonly log: Logger;
  private readonly policy: PayloadPolicy;
  private client: PgClient | undefined;
  private broken = false;
  private leader = false;
  private readonly cursors = new Map<string, Cursor>();
  private cursorsLoaded = false;
  private readonly days = new Set<number>();
  private lastMaintenance = 0;
  private lastMaxLen = 0;
  private stopSignal = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly st: ArchiverStatus = { state: 'stopped', eventsStored: 0, batches: 0, gaps: 0, lastGap: undefined, lagMs: 0, lastError: undefined, downSince: undefined };

  constructor(opts: ArchiverOptions) {
    super();
    this.o = {
      batchSize: 1000,
      idleMs: 200,
      exclusive: true,
      maintenanceMs: 3_600_000,
      ...opts,
      now: opts.now ?? Date.now,
    };
    this.log = opts.logger.child({ part: 'history' });
    this.policy = { maxBytes: opts.history.payloadMaxBytes, off: new Set(opts.history.payloadOff) };
  }

  get status(): Readonly<ArchiverStatus> {
    return this.st;
  }

  /** Starts the loop in the background; never throws (a Postgres that is down is retried). */
  start(): void {
    if (this.loop) return;
    this.stopSignal = new AbortController();
    this.st.state = 'connecting';
    this.loop = this.run();
  }

  /** Stops after the batch in flight (its transaction commits or rolls back), releases the leadership. Idempotent. */
  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.loop;
    this.loop = undefined;
    await this.disconnect();
    this.st.state = 'stopped';
  }

  /** Resolves after the next round, started after this call, that found nothing new (tests, tools). */
  caughtUp(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('caught-up', on);
        reject(new Error(`the history archiver did not catch up within ${timeoutMs} ms (state ${this.st.state}${this.st.lastError ? `: ${this.st.lastError}` : ''})`));
      }, timeoutMs);
      // The round in flight may have begun before the caller's events: wait for a round after it.
      let rounds = 0;
      const on = () => {
        if (++rounds < 2) return;
        clearTimeout(t);
        this.off('caught-up', on);
        resolve();
      };
      this.on('caught-up', on);
    });
  }

  private async run(): Promise<void> {
    let backoff = 200;
    const signal = this.stopSignal.signal;
    while (!signal.aborted) {
      try {
        const client = await this.connection();
        if (this.o.exclusive && !this.leader) {
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_LEADER]);
          this.leader = rows[0]!.ok;
          if (!this.leader) {
            this.st.state = 'standby';
            this.emit('caught-up'); // nothing for it to do
            await sleep(Math.max(this.o.idleMs, 1000), signal);
            continue;
          }
          this.log.info('history archiver: this process archives (leader)');
          this.cursorsLoaded = false;
        }
        this.st.state = 'archiving';
        if (this.st.downSince !== undefined) {
          this.log.info({ downMs: this.o.now() - this.st.downSince }, 'history database is back; catching up');
          this.st.downSince = undefined;
          this.emit('database-up');
        }
        await this.maintain(client);
        const progressed = await this.round(client);
        backoff = 200;
        if (!progressed) {
          this.emit('caught-up');
          await sleep(this.o.idleMs, signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof Error ? err : new Error(String(err));
        this.st.lastError = e.message;
        if (isConnectionError(e) || this.broken) {
          if (this.st.downSince === undefined) {
            this.st.downSince = this.o.now();
            this.log.warn({ err: e.message }, 'history database unavailable; jobs go on, the archiver retries and catches up from Redis');
            this.emit('database-down', e);
          }
          this.st.state = 'database-down';
          await this.disconnect();
        } else {
          this.log.warn({ err: e.message }, 'history archiver round failed; retrying');
        }
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async connection(): Promise<PgClient> {
    if (this.client && !this.broken) return this.client;
    await this.disconnect();
    this.broken = false;
    const client = await connectClient(this.o.history.url, { name: 'conveyor-history-archiver' }, (err) => {
      this.broken = true;
      this.st.lastError = err.message;
    });
    try {
      const applied = await migrate(client);
      if (applied.length > 0) this.log.info({ versions: applied }, 'history schema migrated');
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
    this.cursorsLoaded = false;
    this.days.clear();
    this.lastMaintenance = 0;
    return client;
  }

  private async disconnect(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.leader = false;
    if (c) await c.end().catch(() => {});
  }

  /** Partitions ahead, retention, the known days. */
  private async maintain(client: PgClient): Promise<void> {
    const now = this.o.now();
    if (now - this.lastMaintenance < this.o.maintenanceMs && this.days.size > 0) return;
    await ensurePartitions(client, daysAhead(now));
    const dropped = await dropExpiredPartitions(client, now, this.o.history.retentionDays);
    if (dropped.length > 0) this.log.info({ dropped }, 'history: partitions past retention dropped');
    this.days.clear();
    for (const p of await listPartitions(client, 'events')) this.days.add(p.day);
    this.lastMaintenance = now;
  }

  /** Runs the partition maintenance now (tests, tools): retention against `now`. */
  async maintainNow(): Promise<void> {
    this.lastMaintenance = 0;
    const client = await this.connection();
    await this.maintain(client);
  }

  private async loadCursors(client: PgClient): Promise<void> {
    const { rows } = await client.query<{ stream: string; last_id: string; position: number | null }>(`SELECT stream, last_id, position FROM ${S}.cursors`);
    this.cursors.clear();
    for (const r of rows) this.cursors.set(r.stream, { id: r.last_id, pos: r.position });
    this.cursorsLoaded = true;
  }

  /** One pass over every queue and the audit log; true when something was written (more may be waiting). */
  private async round(client: PgClient): Promise<boolean> {
    if (!this.cursorsLoaded) await this.loadCursors(client);
    const queues = (await this.o.redis.smembers(keys.queueRegistry)).sort();
    await this.keepStreamsLong(queues);
    let progressed = false;
    let lag = 0;
    for (const queue of queues) {
      if (this.stopSignal.signal.aborted) return false;
      const r = await this.archiveQueue(client, queue);
      if (r.progressed) progressed = true;
      lag = Math.max(lag, r.lagMs);
    }
    if (await this.archiveAudit(client)) progressed = true;
    this.st.lagMs = lag;
    return progressed;
  }

  /** BullMQ trims each stream to its meta's opts.maxLenEvents (10,000 by default): raise it to HISTORY_STREAM_MAXLEN, every 10 s (a Queue built elsewhere writes its own). */
  private async keepStreamsLong(queues: readonly string[]): Promise<void> {
    const now = this.o.now();
    if (now - this.lastMaxLen < 10_000) return;
    this.lastMaxLen = now;
    const want = this.o.history.streamMaxLen;
    await Promise.all(
      queues.map(async (q) => {
        const metas = [`${PREFIX}:${bullName(q)}:meta`, `${PREFIX}:${deadBullName(q)}:meta`];
        const p = this.o.redis.pipeline();
        for (const m of metas) p.hget(m, 'opts.maxLenEvents');
        const got = (await p.exec()) ?? [];
        const w = this.o.redis.pipeline();
        let n = 0;
        metas.forEach((m, i) => {
          const v = Number(got[i]?.[1] ?? 0);
          if (!(v >= want)) {
            w.hset(m, 'opts.maxLenEvents', String(want));
            n++;
          }
        });
        if (n > 0) await w.exec();
      }),
    );
  }

  private async readStreams(queue: string): Promise<StreamRead[]> {
    const streams: { key: string; source: Source }[] = [
      { key: `${PREFIX}:${bullName(queue)}:events`, source: 'queue' },
      { key: `${PREFIX}:${deadBullName(queue)}:events`, source: 'dead' },
    ];
    // One MULTI (the queue's keys share a hash slot): each count of entries added matches its read.
    const m = this.o.redis.multi();
    for (const s of streams) {
      const c = this.cursors.get(s.key);
      m.xinfo('STREAM', s.key);
      m.xrange(s.key, c ? `(${c.id}` : '-', '+', 'COUNT', this.o.batchSize);
    }
    const res = (await m.exec()) ?? [];
    return streams.map((s, i) => {
      const [infoErr, info] = res[i * 2] ?? [];
      const [rangeErr, range] = res[i * 2 + 1] ?? [];
      if (rangeErr) throw rangeErr;
      // "no such key": a stream not written yet.
      const si = infoErr ? streamInfo(undefined) : streamInfo(info);
      const entries = toEntries(s.source, range);
      return { ...s, entries, full: entries.length >= this.o.batchSize, info: si };
    });
  }

  private async archiveQueue(client: PgClient, queue: string): Promise<{ progressed: boolean; lagMs: number }> {
    const reads = await this.readStreams(queue);
    // Merge up to the earliest point both streams were read to: an event past the end of a full
    // batch of one stream may precede events of the other still unread.
    let bound: string | undefined;
    for (const r of reads) if (r.full) bound = bound === undefined || compareIds(r.entries.at(-1)!.id, bound) < 0 ? r.entries.at(-1)!.id : bound;
    const gaps: (ArchiverGap & { missing: number | null })[] = [];
    const next = new Map<string, Cursor>();
    const merged: StreamEntry[] = [];
    let lagMs = 0;
    for (const r of reads) {
      const cursor = this.cursors.get(r.key);
      const { length, added, firstId } = r.info;
      // Entries removed from the stream's start (trimmed; BullMQ never deletes others).
      const trimmed = added !== undefined ? added - length : undefined;
      let base: number | null = cursor ? cursor.pos : trimmed ?? null;
      if (cursor && firstId && compareIds(firstId, cursor.id) > 0) {
        // The stream starts past the cursor: were entries after the cursor trimmed?
        const missing = trimmed !== undefined && cursor.pos !== null ? trimmed - cursor.pos : null;
        if (missing === null || missing > 0) {
          gaps.push({ stream: r.key, queue, fromId: cursor.id, toId: firstId, fromAt: iso(parseId(cursor.id)[0]), toAt: iso(parseId(firstId)[0]), missing });
          next.set(r.key, { id: before(firstId), pos: trimmed ?? null });
          base = trimmed ?? null;
        }
      }
      const taken = bound === undefined ? r.entries : r.entries.filter((e) => compareIds(e.id, bound!) <= 0);
      if (taken.length > 0) next.set(r.key, { id: taken.at(-1)!.id, pos: base === null ? null : base + taken.length });
      merged.push(...taken);
      const upTo = next.get(r.key)?.id ?? cursor?.id;
      if (r.info.lastId && upTo && compareIds(r.info.lastId, upTo) > 0) lagMs = Math.max(lagMs, parseId(r.info.lastId)[0] - parseId(upTo)[0]);
    }
    if (next.size === 0) return { progressed: false, lagMs };
    merged.sort((a, b) => compareIds(a.id, b.id) || (a.source === b.source ? 0 : a.source === 'queue' ? -1 : 1));

    const now = this.o.now();
    const minAt = retentionStart(now, this.o.history.retentionDays);
    const missing = new Set<number>();
    for (const e of merged) {
      const d = dayOf(parseId(e.id)[0]);
      if (d >= minAt && !this.days.has(d)) missing.add(d);
    }
    if (missing.size > 0) {
      await ensurePartitions(client, missing);
      for (const d of missing) this.days.add(d);
    }

    const written = await this.transaction(client, async () => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_QUEUE_CLASS, queue]);
      const streamKeys = reads.map((r) => r.key);
      const { rows: stored } = await client.query<{ stream: string; last_id: string; position: number | null }>(`SELECT stream, last_id, position FROM ${S}.cursors WHERE stream = ANY($1)`, [streamKeys]);
      const inDb = new Map(stored.map((r) => [r.stream, { id: r.last_id, pos: r.position }]));
      if (streamKeys.some((k) => inDb.get(k)?.id !== this.cursors.get(k)?.id)) {
        // Another archiver moved on: read again from where it got to.
        for (const k of streamKeys) {
          const v = inDb.get(k);
          if (v === undefined) this.cursors.delete(k);
          else this.cursors.set(k, v);
        }
        return undefined;
      }
      const ids = [...new Set(merged.map((e) => e.fields.jobId).filter((x): x is string => typeof x === 'string'))];
      const rows = await this.jobRows(client, queue, ids);
      const snapshots = await this.snapshots(queue, merged, new Set(rows.keys()));
      const t = translate(queue, merged, snapshots, rows, this.policy, minAt);
      await this.attribute(client, queue, t.events);
      await insertEvents(client, t.events);
      await upsertJobs(client, t.jobs);
      await addStats(client, t.stats);
      for (const g of gaps) {
        await client.query(`INSERT INTO ${S}.gaps (stream, queue, from_id, to_id, from_at, to_at, missing) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, [g.stream, g.queue, g.fromId, g.toId, g.fromAt, g.toAt, g.missing]);
      }
      for (const [k, v] of next) {
        await client.query(
          `INSERT INTO ${S}.cursors (stream, last_id, position, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (stream) DO UPDATE SET last_id = EXCLUDED.last_id, position = EXCLUDED.position, updated_at = now()`,
          [k, v.id, v.pos],
        );
      }
      return t.events.length;
    });
    if (written === undefined) return { progressed: true, lagMs };
    for (const [k, v] of next) this.cursors.set(k, v);
    this.st.eventsStored += written;
    this.st.batches++;
    for (const { missing: n, ...g } of gaps) {
      this.st.gaps++;
      this.st.lastGap = g;
      this.log.warn({ queue, stream: g.stream, from: g.fromAt, to: g.toAt, missing: n }, 'history gap: Redis trimmed events before the archiver read them');
      this.emit('gap', g);
    }
    this.emit('batch', queue, written);
    return { progressed: true, lagMs };
  }

  private async transaction<T>(client: PgClient, fn: () => Promise<T>): Promise<T> {
    await client.query('BEGIN');
    try {
      const r = await fn();
      await client.query('COMMIT');
      return r;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /** The summary rows of these jobs (the newest, should an id have several). */
  private async jobRows(client: PgClient, queue: string, ids: string[]): Promise<Map<string, JobRow>> {
    const out = new Map<string, JobRow>();
    if (ids.length === 0) return out;
    const { rows } = await client.query(`SELECT * FROM ${S}.jobs WHERE queue = $1 AND job_id = ANY($2) ORDER BY created_at`, [queue, ids]);
    for (const r of rows) out.set(r.job_id, fromDbRow(r));
    return out;
  }

  /** The hash fields the batch's events need, one HMGET per job in one pipeline. */
  private async snapshots(queue: string, entries: readonly StreamEntry[], known: ReadonlySet<string>): Promise<Map<string, Snapshot>> {
    const need = neededFields(entries, known);
    const out = new Map<string, Snapshot>();
    if (need.size === 0) return out;
    const p = this.o.redis.pipeline();
    const order: [string, (keyof Snapshot)[]][] = [];
    for (const [id, fields] of need) {
      const f = [...fields].filter((x) => x !== 'dead');
      order.push([id, f]);
      if (f.length > 0) p.hmget(keys.job(queue, id), ...f);
      if (fields.has('dead')) p.hget(`${PREFIX}:${deadBullName(queue)}:${id}`, 'data');
    }
    const res = (await p.exec()) ?? [];
    let i = 0;
    for (const [id, f] of order) {
      const s: Snapshot = {};
      let any = false;
      if (f.length > 0) {
        const [err, vals] = res[i++] ?? [];
        // All absent: the hash is gone.
        if (!err && Array.isArray(vals) && vals.some((v) => v !== null)) {
          f.forEach((name, j) => (s[name] = (vals[j] as string | null) ?? null));
          any = true;
        }
      }
      if (need.get(id)!.has('dead')) {
        const [err, v] = res[i++] ?? [];
        if (!err && typeof v === 'string') {
          s.dead = v;
          any = true;
        }
      }
      if (any) out.set(id, s);
    }
    // A job that failed for good at once is a dead letter already: its payload and options are in the envelope.
    const gone = order.filter(([id, f]) => (f.includes('data') && out.get(id)?.data == null) || (f.includes('pb') && out.get(id)?.pb == null && out.get(id)?.dead == null));
    if (gone.length > 0) {
      const d = this.o.redis.pipeline();
      for (const [id] of gone) d.hget(`${PREFIX}:${deadBullName(queue)}:${id}`, 'data');
      const got = (await d.exec()) ?? [];
      gone.forEach(([id], k) => {
        const raw = got[k]?.[1];
        if (typeof raw !== 'string') return;
        try {
          const env = JSON.parse(raw) as { data?: unknown; opts?: unknown };
          const snap = out.get(id) ?? {};
          if (snap.data == null) snap.data = JSON.stringify(env.data ?? null);
          if (snap.opts == null) snap.opts = JSON.stringify(env.opts ?? {});
          snap.dead ??= raw;
          out.set(id, snap);
        } catch {
          // not an envelope
        }
      });
    }
    return out;
  }

  /** Names the operator of replays and drops whose audit entry is already stored. */
  private async attribute(client: PgClient, queue: string, events: HistoryEvent[]): Promise<void> {
    const acts = events.filter((e) => e.type === 'replayed' || e.type === 'dropped');
    if (acts.length === 0) return;
    const from = Math.min(...acts.map((e) => e.at));
    const to = Math.max(...acts.map((e) => e.at)) + ATTRIBUTION_WINDOW_MS;
    const { rows } = await client.query<{ user: string; action: string; jobs: string[]; at: Date }>(
      `SELECT "user", action, jobs, at FROM ${S}.operator_actions WHERE action = ANY($1) AND at BETWEEN $2 AND $3 ORDER BY at`,
      [['dead.replay', 'dead.drop'], iso(from), iso(to)],
    );
    for (const e of acts) {
      const action = e.type === 'replayed' ? 'dead.replay' : 'dead.drop';
      const ref = `${queue}:${e.jobId}`;
      const hit = rows.find((r) => r.action === action && r.at.getTime() >= e.at && r.at.getTime() - e.at <= ATTRIBUTION_WINDOW_MS && r.jobs.includes(ref));
      if (hit) e.actor = hit.user;
    }
  }

  /** New audit entries (the list is newest first, capped): stored, and their operators put on the events they name. */
  private async archiveAudit(client: PgClient): Promise<boolean> {
    const cursor = this.cursors.get(AUDIT_STREAM)?.id;
    const fresh: { raw: string; id: string }[] = [];
    let found = cursor === undefined;
    const PAGE = 200;
    for (let start = 0; ; start += PAGE) {
      const page = await this.o.redis.lrange(AUDIT_STREAM, start, start + PAGE - 1);
      for (const raw of page) {
        const id = createHash('sha1').update(raw).digest('hex');
        if (id === cursor) {
          found = true;
          break;
        }
        fresh.push({ raw, id });
      }
      if ((found && cursor !== undefined) || page.length < PAGE) break;
    }
    if (fresh.length === 0) return false;
    fresh.reverse(); // oldest first
    const entries = fresh.flatMap(({ raw, id }) => {
      try {
        const e = JSON.parse(raw) as { at?: string; user?: string; role?: string; action?: string; queue?: string; jobs?: string[]; count?: number; outcome?: string; detail?: string };
        const at = Date.parse(e.at ?? '');
        if (!Number.isFinite(at) || typeof e.action !== 'string') return [];
        return [{ id, at, e }];
      } catch {
        return [];
      }
    });
    const newest = fresh.at(-1)!.id;
    const ok = await this.transaction(client, async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_AUDIT]);
      const { rows } = await client.query<{ last_id: string }>(`SELECT last_id FROM ${S}.cursors WHERE stream = $1`, [AUDIT_STREAM]);
      if (rows[0]?.last_id !== cursor) {
        if (rows[0]) this.cursors.set(AUDIT_STREAM, { id: rows[0].last_id, pos: null });
        return false;
      }
      if (!found && cursor !== undefined && entries.length > 0) {
        const first = entries[0]!;
        await client.query(`INSERT INTO ${S}.gaps (stream, queue, from_id, to_id, from_at, to_at) VALUES ($1, NULL, $2, $3, $4, $4) ON CONFLICT DO NOTHING`, [AUDIT_STREAM, cursor, first.id, iso(first.at)]);
      }
      for (const { id, at, e } of entries) {
        const jobs = Array.isArray(e.jobs) ? e.jobs.filter((j): j is string => typeof j === 'string') : [];
        await client.query(
          `INSERT INTO ${S}.operator_actions (entry_id, at, "user", role, action, queue, jobs, count, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [id, iso(at), e.user ?? 'unknown', e.role ?? null, e.action, e.queue ?? null, jobs, typeof e.count === 'number' ? e.count : null, e.outcome ?? null, e.detail ?? null],
        );
        const type = e.action === 'dead.replay' ? 'replayed' : e.action === 'dead.drop' ? 'dropped' : undefined;
        if (!type || jobs.length === 0) continue;
        const refs = jobs.map((j) => {
          const c = j.indexOf(':');
          return c === -1 ? ['', j] : [j.slice(0, c), j.slice(c + 1)];
        });
        await client.query(
          `UPDATE ${S}.events ev SET actor = $1 FROM unnest($2::text[], $3::text[]) AS r(queue, job_id)
           WHERE ev.queue = r.queue AND ev.job_id = r.job_id AND ev.type = $4 AND ev.actor IS NULL AND ev.at BETWEEN $5 AND $6`,
          [e.user ?? 'unknown', refs.map((r) => r[0]), refs.map((r) => r[1]), type, iso(at - ATTRIBUTION_WINDOW_MS), iso(at)],
        );
      }
      await client.query(`INSERT INTO ${S}.cursors (stream, last_id, updated_at) VALUES ($1, $2, now()) ON CONFLICT (stream) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = now()`, [AUDIT_STREAM, newest]);
      return true;
    });
    if (ok) this.cursors.set(AUDIT_STREAM, { id: newest, pos: null });
    return true;
  }
}

function ms(v: unknown): number | null {
  return v instanceof Date ? v.getTime() : v === null || v === undefined ? null : new Date(String(v)).getTime();
}

function fromDbRow(r: Record<string, any>): JobRow {
  return {
    createdAt: ms(r.created_at)!, queue: r.queue, jobId: r.job_id, name: r.name, key: r.key, state: r.state, updatedAt: ms(r.updated_at)!,
    startedAt: ms(r.started_at), finishedAt: ms(r.finished_at), attempts: r.attempts, failures: r.failures, worker: r.worker,
    durationMs: r.duration_ms, resultBytes: r.result_bytes, errorCode: r.error_code, errorMessage: r.error_message,
    payload: r.payload === null ? null : JSON.stringify(r.payload), payloadBytes: r.payload_bytes, payloadHash: r.payload_hash, payloadHead: r.payload_head, payloadOmitted: r.payload_omitted,
  };
}

const isoOrNull = (v: number | null) => (v === null ? null : iso(v));

async function insertEvents(client: PgClient, events: HistoryEvent[]): Promise<void> {
  if (events.length === 0) return;
  const col = <K extends keyof HistoryEvent>(k: K) => events.map((e) => e[k]);
  await client.query(
    `INSERT INTO ${S}.events (at, event_id, queue, job_id, name, type, attempt, worker, host, key, duration_ms, result_bytes, error_code, error_message, error_fingerprint, actor, detail)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::int[], $12::int[], $13::text[], $14::text[], $15::text[], $16::text[], $17::jsonb[])
     ON CONFLICT DO NOTHING`,
    [
      events.map((e) => iso(e.at)), col('eventId'), col('queue'), col('jobId'), col('name'), col('type'), col('attempt'), col('worker'), col('host'), col('key'),
      col('durationMs'), col('resultBytes'), col('errorCode'), col('errorMessage'), col('errorFingerprint'), col('actor'), events.map((e) => (e.detail ? JSON.stringify(e.detail) : null)),
    ],
  );
}

async function upsertJobs(client: PgClient, jobs: JobRow[]): Promise<void> {
  if (jobs.length === 0) return;
  const col = <K extends keyof JobRow>(k: K) => jobs.map((j) => j[k]);
  await client.query(
    `INSERT INTO ${S}.jobs (created_at, queue, job_id, name, key, state, updated_at, started_at, finished_at, attempts, failures, worker, duration_ms, result_bytes, error_code, error_message, payload, payload_bytes, payload_hash, payload_head, payload_omitted)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::int[], $11::int[], $12::text[], $13::int[], $14::int[], $15::text[], $16::text[], $17::jsonb[], $18::int[], $19::text[], $20::text[], $21::text[])
     ON CONFLICT (queue, job_id, created_at) DO UPDATE SET
       name = EXCLUDED.name, key = EXCLUDED.key, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
       attempts = EXCLUDED.attempts, failures = EXCLUDED.failures, worker = EXCLUDED.worker, duration_ms = EXCLUDED.duration_ms, result_bytes = EXCLUDED.result_bytes,
       error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, payload = EXCLUDED.payload, payload_bytes = EXCLUDED.payload_bytes,
       payload_hash = EXCLUDED.payload_hash, payload_head = EXCLUDED.payload_head, payload_omitted = EXCLUDED.payload_omitted`,
    [
      jobs.map((j) => iso(j.createdAt)), col('queue'), col('jobId'), col('name'), col('key'), col('state'), jobs.map((j) => iso(j.updatedAt)), jobs.map((j) => isoOrNull(j.startedAt)),
      jobs.map((j) => isoOrNull(j.finishedAt)), col('attempts'), col('failures'), col('worker'), col('durationMs'), col('resultBytes'), col('errorCode'), col('errorMessage'),
      col('payload'), col('payloadBytes'), col('payloadHash'), col('payloadHead'), col('payloadOmitted'),
    ],
  );
}

async function addStats(client: PgClient, stats: HourStat[]): Promise<void> {
  if (stats.length === 0) return;
  const col = <K extends keyof HourStat>(k: K) => stats.map((s) => s[k]);
  await client.query(
    `INSERT INTO ${S}.stats_hourly (hour, queue, name, enqueued, started, completed, failed, dead, duration_ms_sum, duration_ms_max, duration_hist)
     SELECT hour, queue, name, enqueued, started, completed, failed, dead, dsum, dmax, hist::int[]
     FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[], $9::bigint[], $10::int[], $11::text[])
       AS t(hour, queue, name, enqueued, started, completed, failed, dead, dsum, dmax, hist)
     ON CONFLICT (hour, queue, name) DO UPDATE SET
       enqueued = stats_hourly.enqueued + EXCLUDED.enqueued, started = stats_hourly.started + EXCLUDED.started, completed = stats_hourly.completed + EXCLUDED.completed,
       failed = stats_hourly.failed + EXCLUDED.failed, dead = stats_hourly.dead + EXCLUDED.dead, duration_ms_sum = stats_hourly.duration_ms_sum + EXCLUDED.duration_ms_sum,
       duration_ms_max = GREATEST(stats_hourly.duration_ms_max, EXCLUDED.duration_ms_max),
       duration_hist = (SELECT array_agg(coalesce(a, 0) + coalesce(b, 0) ORDER BY n) FROM unnest(stats_hourly.duration_hist, EXCLUDED.duration_hist) WITH ORDINALITY AS h(a, b, n))`,
    [
      stats.map((s) => iso(s.hour)), col('queue'), col('name'), col('enqueued'), col('started'), col('completed'), col('failed'), col('dead'), col('durationMsSum'), col('durationMsMax'),
      stats.map((s) => `{${s.durationHist.join(',')}}`),
    ],
  );
}
