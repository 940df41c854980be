/**
 * The history database: versioned, idempotent migrations (one transaction
 * each, recorded in schema_migrations, applied under an advisory lock so two
 * servers starting together apply each once), and the day partitions of the
 * time-partitioned tables: created ahead, created on demand for the days a
 * batch touches, dropped whole once past retention (never a row-by-row
 * DELETE).
 *
 * Everything lives in the schema "conveyor_history", so HISTORY_URL may
 * point at a database shared with other things.
 */
import type { PoolClient, ClientBase } from 'pg';

export const SCHEMA = 'conveyor_history';
const S = SCHEMA;

/** pg_advisory_xact_lock keys: one for migrations, one for partition changes (any 64-bit numbers no one else uses). */
export const LOCK_MIGRATE = 0x0c0e_7f01;
export const LOCK_PARTITIONS = 0x0c0e_7f02;
/** The archiver's leadership (a session lock held while archiving). */
export const LOCK_LEADER = 0x0c0e_7f03;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The tables partitioned by day, and the column each is partitioned on. */
export const PARTITIONED = [
  { table: 'events', column: 'at' },
  { table: 'jobs', column: 'created_at' },
  { table: 'stats_hourly', column: 'hour' },
] as const;

export type PartitionedTable = (typeof PARTITIONED)[number]['table'];

/**
 * The migrations, in order. A migration is never edited once released: a
 * change is a new one. Each runs in its own transaction with its row in
 * schema_migrations, so a crash half-way leaves nothing half-applied.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, jobs, hourly stats, cursors, gaps, operator actions',
    sql: `
-- One row per job event. at comes from the event's stream id (Redis time), so an event always
-- has the same (at, event_id): the primary key is its identity, across partitions.
CREATE TABLE ${S}.events (
  at timestamptz NOT NULL,
  event_id text NOT NULL,
  queue text NOT NULL,
  job_id text NOT NULL,
  name text,
  type text NOT NULL,
  attempt integer,
  worker text,
  host text,
  key text,
  duration_ms integer,
  result_bytes integer,
  error_code text,
  error_message text,
  error_fingerprint text,
  actor text,
  detail jsonb,
  PRIMARY KEY (at, event_id)
) PARTITION BY RANGE (at);
-- A job's timeline.
CREATE INDEX events_job ON ${S}.events (queue, job_id, at);

-- One row per job: its latest state, for search (newest first by created_at, cursor-paged).
CREATE TABLE ${S}.jobs (
  created_at timestamptz NOT NULL,
  queue text NOT NULL,
  job_id text NOT NULL,
  name text,
  key text,
  state text NOT NULL,
  updated_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  failures integer NOT NULL DEFAULT 0,
  worker text,
  duration_ms integer,
  result_bytes integer,
  error_code text,
  error_message text,
  payload jsonb,
  payload_bytes integer,
  payload_hash text,
  payload_head text,
  payload_omitted text,
  search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(name, '') || ' ' || job_id || ' ' || coalesce(key, '') || ' ' || coalesce(error_message, '') || ' ' || coalesce(payload_head, ''))
    || coalesce(jsonb_to_tsvector('simple', payload, '["string", "numeric"]'), ''::tsvector)
  ) STORED,
  PRIMARY KEY (queue, job_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX jobs_newest ON ${S}.jobs (created_at DESC, queue DESC, job_id DESC);
CREATE INDEX jobs_queue ON ${S}.jobs (queue, created_at DESC, job_id DESC);
CREATE INDEX jobs_name ON ${S}.jobs (name, created_at DESC);
CREATE INDEX jobs_state ON ${S}.jobs (state, created_at DESC);
CREATE INDEX jobs_key ON ${S}.jobs (key, created_at DESC) WHERE key IS NOT NULL;
CREATE INDEX jobs_search ON ${S}.jobs USING gin (search);
CREATE INDEX jobs_payload ON ${S}.jobs USING gin (payload jsonb_path_ops);

-- Per queue, job name and hour: counts and durations (the dashboard's per-name charts).
CREATE TABLE ${S}.stats_hourly (
  hour timestamptz NOT NULL,
  queue text NOT NULL,
  name text NOT NULL,
  enqueued integer NOT NULL DEFAULT 0,
  started integer NOT NULL DEFAULT 0,
  completed integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  dead integer NOT NULL DEFAULT 0,
  duration_ms_sum bigint NOT NULL DEFAULT 0,
  duration_ms_max integer NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, queue, name)
) PARTITION BY RANGE (hour);

-- Where each Redis stream was read up to; moved in the same transaction as the rows it produced.
-- position: last_id is the position-th entry ever added to the stream (XINFO STREAM entries-added counts them),
-- so entries trimmed past the cursor are counted exactly.
CREATE TABLE ${S}.cursors (
  stream text PRIMARY KEY,
  last_id text NOT NULL,
  position bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events Redis trimmed before the archiver read them.
CREATE TABLE ${S}.gaps (
  stream text NOT NULL,
  queue text,
  from_id text NOT NULL,
  to_id text NOT NULL,
  from_at timestamptz NOT NULL,
  to_at timestamptz NOT NULL,
  missing bigint,
  detected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, from_id)
);
CREATE INDEX gaps_time ON ${S}.gaps (to_at DESC);

-- The audit log's entries (who replayed or dropped what), kept to name the operator of an event.
CREATE TABLE ${S}.operator_actions (
  entry_id text PRIMARY KEY,
  at timestamptz NOT NULL,
  "user" text NOT NULL,
  role text,
  action text NOT NULL,
  queue text,
  jobs text[] NOT NULL DEFAULT '{}',
  count integer,
  outcome text,
  detail text
);
CREATE INDEX operator_actions_time ON ${S}.operator_actions (at);
`,
  },
  {
    version: 2,
    name: 'hourly duration histograms',
    sql: `
-- Completed jobs' durations per hour as bucket counts (shared/history/durations.ts: 96 buckets, four
-- per doubling of the duration), for p50 / p95 / p99 per hour over 7 and 30 days.
ALTER TABLE ${S}.stats_hourly ADD COLUMN duration_hist integer[] NOT NULL DEFAULT '{}';
`,
  },
];

export const CURRENT_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies the migrations not yet applied, each in its own transaction, all
 * under one advisory lock (a second server waits, then finds them applied).
 * Returns the versions it applied.
 */
export async function migrate(client: ClientBase): Promise<number[]> {
  const applied: number[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [LOCK_MIGRATE]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${S}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${S}.schema_migrations`);
    const done = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...done);
    if (newest > CURRENT_VERSION) {
      throw new Error(`the history database is at schema version ${newest}, newer than this Conveyor knows (${CURRENT_VERSION}): upgrade Conveyor`);
    }
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO ${S}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      applied.push(m.version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_MIGRATE]).catch(() => {});
  }
  return applied;
}

const DAY_MS = 86_400_000;

/** The UTC day (ms at 00:00) of a time. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** events_p20250131 */
export function partitionName(table: PartitionedTable, day: number): string {
  return `${table}_p${new Date(day).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

function dayFromName(name: string): number | undefined {
  const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : undefined;
}

/** The day partitions of a table (by their day), from the catalog. */
export async function listPartitions(client: ClientBase, table: PartitionedTable): Promise<{ name: string; day: number }[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY c.relname`,
    [`${S}.${table}`],
  );
  return rows.flatMap((r) => {
    const day = dayFromName(r.name);
    return day === undefined ? [] : [{ name: r.name, day }];
  });
}

/**
 * Partitions of every partitioned table for these days, made if missing (in
 * one transaction under the partitions lock: two archivers never race on
 * the same CREATE).
 */
export async function ensurePartitions(client: PoolClient | ClientBase, days: Iterable<number>): Promise<number[]> {
  const wanted = [...new Set([...days].map(dayOf))].sort((a, b) => a - b);
  if (wanted.length === 0) return [];
  const made: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_PARTITIONS]);
    for (const { table } of PARTITIONED) {
      const have = new Set((await listPartitions(client, table)).map((p) => p.day));
      for (const day of wanted) {
        if (have.has(day)) continue;
        const from = new Date(day).toISOString();
        const to = new Date(day + DAY_MS).toISOString();
        await client.query(`CREATE TABLE ${S}.${partitionName(table, day)} PARTITION OF ${S}.${table} FOR VALUES FROM ('${from}') TO ('${to}')`);
        if (table === 'events') made.push(day);
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return made;
}

/** The first day history keeps: partitions wholly before it go. */
export function retentionStart(nowMs: number, retentionDays: number): number {
  return dayOf(nowMs) - (retentionDays - 1) * DAY_MS;
}

/**
 * Drops the partitions wholly older than retention (a day partition goes
 * once all of it is older than retentionDays), across every partitioned
 * table; returns the names dropped. Rows of the days kept are untouched.
 */
export async function dropExpiredPartitions(client: ClientBase, nowMs: number, retentionDays: number): Promise<string[]> {
  const keepFrom = retentionStart(nowMs, retentionDays);
  const dropped: string[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_PARTITIONS]);
    for (const { table } of PARTITIONED) {
      for (const p of await listPartitions(client, table)) {
        if (p.day >= keepFrom) continue;
        await client.query(`DROP TABLE ${S}.${p.name}`);
        dropped.push(p.name);
      }
    }
    // The small side tables: their old rows go by time (a handful a day).
    const cutoff = new Date(keepFrom).toISOString();
    await client.query(`DELETE FROM ${S}.operator_actions WHERE at < $1`, [cutoff]);
    await client.query(`DELETE FROM ${S}.gaps WHERE to_at < $1`, [cutoff]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return dropped;
}

/** Today and the next `ahead` days: made at start and by each maintenance run. */
export function daysAhead(nowMs: number, ahead = 3): number[] {
  const today = dayOf(nowMs);
  return Array.from({ length: ahead + 1 }, (_, i) => today + i * DAY_MS);
}
