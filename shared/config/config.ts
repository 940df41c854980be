/**
 * loadConfig(env): the one place that reads the environment. Every process
 * calls it once at start and passes the frozen result down.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConveyorError } from '../errors.ts';
import { isValidQueueName } from '../queue/names.ts';
import { parseRedisUrl, redactUrl, type RedisTarget } from './redis-url.ts';

export type Scope = 'enqueue' | 'read' | 'admin';
export const ALL_SCOPES: readonly Scope[] = Object.freeze(['enqueue', 'read', 'admin'] as Scope[]);
/** Shortest token accepted: a short bearer token is guessable. */
export const MIN_TOKEN_LENGTH = 8;

/**
 * One right of a token: a scope, on every queue or only on queues matching a
 * pattern (`enqueue@emails.*`: `*` stands for any run of queue-name characters).
 */
export interface Grant {
  scope: Scope;
  /** Queue pattern; undefined = every queue. */
  queues: string | undefined;
}

export interface ApiToken {
  name: string;
  token: string;
  /** The scopes the token holds on at least one queue (see grants for where). */
  scopes: readonly Scope[];
  /** Each scope with the queues it covers; a bare token has every scope on every queue. */
  grants: readonly Grant[];
}

/** Queue patterns in API_TOKENS: queue-name characters and `*`, at most 64 characters. */
const QUEUE_PATTERN = /^[A-Za-z0-9._*-]{1,64}$/;

export interface Config {
  /** Where the queues live. */
  redis: RedisTarget;
  /** True when REDIS_URL was set; false when the local default (npm start's Redis) is used. */
  redisUrlExplicit: boolean;
  /** PEM of REDIS_TLS_CA, when set. */
  redisTlsCa: string | undefined;
  /** How long a producer waits for Redis before REDIS_UNAVAILABLE. */
  redisCommandTimeoutMs: number;
  apiPort: number;
  dashboardPort: number;
  apiTokens: readonly ApiToken[];
  dashboardUser: string | undefined;
  dashboardPassword: string | undefined;
  /** Key for the dashboard's session cookies; unset = a random key per process (sessions end on restart). */
  dashboardSessionSecret: string | undefined;
  /** DASHBOARD_READONLY_USERS: dashboard users who see everything and change nothing. */
  dashboardReadonlyUsers: readonly { user: string; password: string }[];
  /** DASHBOARD_ALERT_WAITING_MS: the overview warns when a queue's oldest waiting job is older than this. */
  dashboardAlertWaitingMs: number;
  /** HEARTBEAT_INTERVAL_MS: how often a worker process writes its heartbeat (and reads commands). */
  heartbeatIntervalMs: number;
  /** HEARTBEAT_TTL_MS: a worker whose heartbeat is older than this has left the fleet. */
  heartbeatTtlMs: number;
  /** npm start's own Redis (when REDIS_URL is unset): its port and the folder holding its data. */
  localRedisPort: number;
  conveyorHome: string;
  /** npm start's own history database (when HISTORY_URL is unset): PGlite served on this port, data in <conveyorHome>/history. */
  localHistoryPort: number;
  /** npm run start:ha (CONVEYOR_HA_BASE_PORT): data nodes on base..base+2, Sentinels on base+20000..base+20002. */
  haBasePort: number;
  queues: readonly string[];
  /** True when QUEUES was set; false when the default ("default") is used (a worker of typed jobs then takes their queues). */
  queuesExplicit: boolean;
  concurrency: number;
  /**
   * WORKER_PROCESSES (or `conveyor worker --processes N`): worker processes a
   * supervisor runs on this host; undefined = no supervisor, one in-process worker.
   */
  workerProcesses: number | undefined;
  /** WORKER_MAX_RSS_MB: a supervised worker process above this RSS is restarted gracefully (undefined = no cap). */
  workerMaxRssMb: number | undefined;
  handlersPath: string | undefined;
  /** WORKER_ISOLATION: where a worker runs job handlers whose definition does not say (none = in its own process). */
  workerIsolation: 'none' | 'process' | 'thread';
  /** SANDBOX_MAX_HEAP_MB: the heap limit of each sandbox (child process or worker thread); unset = Node's default. */
  sandboxMaxHeapMb: number | undefined;
  /** SCHEDULES: a JSON file of cron schedules applied at server and worker start (unset = none). */
  schedulesFile: string | undefined;
  /** LIMITS: a JSON file of queue flow limits ({"<queue>": {limits}}) applied at server and worker start (unset = none). */
  limitsFile: string | undefined;
  enqueueMinReplicas: number;
  enqueueWaitTimeoutMs: number;
  maxPayloadBytes: number;
  httpAllowedHosts: readonly string[];
  shutdownGraceMs: number;
  /** How long a lock lasts before a dead worker's job counts as stalled. */
  lockDurationMs: number;
  /** How often workers look for stalled jobs. */
  stalledIntervalMs: number;
  interop: readonly ('sidekiq' | 'resque')[];
  /** INTEROP_QUEUES: the foreign queues the bridge moves; empty = every queue named in `queues` / `resque:queues`. */
  interopQueues: readonly string[];
  drainRedisUrls: readonly RedisTarget[];
  logLevel: string;
  /** METRICS_PORT: a worker process serves GET /metrics here (unset = no endpoint; 0 = a free port). */
  metricsPort: number | undefined;
  /** METRICS_HOST: the address the worker's metrics endpoint binds. */
  metricsHost: string;
  /** BULK_MAX: most jobs in one bulk enqueue. */
  bulkMax: number;
  /** API_RATE_LIMIT: requests per second per token (a burst of one second's worth); 0 = no limit. */
  apiRateLimit: number;
  /** REQUEST_TIMEOUT_MS: an API request not answered by then gets 503 REQUEST_TIMEOUT. */
  requestTimeoutMs: number;
  /** MAX_JSON_DEPTH: deepest nesting of arrays and objects accepted in a request body or job payload. */
  maxJsonDepth: number;
  /**
   * OpenTelemetry tracing (bullmq-otel): on when OTEL_EXPORTER_OTLP_ENDPOINT is set
   * or CONVEYOR_OTEL=1 (then the endpoint defaults to http://localhost:4318).
   */
  tracing: { endpoint: string; serviceName: string; headers: Readonly<Record<string, string>> } | undefined;
  /** Job history in PostgreSQL (HISTORY_URL and the HISTORY_* settings); undefined = no history. */
  history: HistoryConfig | undefined;
}

/** HISTORY_URL and its settings (docs/operations.md "History"). */
export interface HistoryConfig {
  /** postgres:// or postgresql:// URL of the history database. */
  url: string;
  /** The URL with its password masked (logs, describeConfig). */
  redacted: string;
  /** HISTORY_RETENTION_DAYS (30): whole day partitions older than this are dropped. */
  retentionDays: number;
  /** HISTORY_PAYLOAD_MAX_BYTES (65536): payloads up to this size are kept whole, larger ones as a hash and their first KB. */
  payloadMaxBytes: number;
  /** HISTORY_PAYLOAD_OFF: job names whose payloads are never kept ("*" = none is). */
  payloadOff: readonly string[];
  /** HISTORY_STREAM_MAXLEN (100000): events each queue's Redis stream keeps, how far the archiver may lag before a gap. */
  streamMaxLen: number;
}

/** The Redis that `npm start` runs when REDIS_URL is unset. */
export const LOCAL_REDIS_PORT = 6380;
export const LOCAL_REDIS_URL = `redis://127.0.0.1:${LOCAL_REDIS_PORT}`;
/** npm start's history database (PGlite), beside its Redis. */
export const LOCAL_HISTORY_PORT = 6381;

type Env = Record<string, string | undefined>;

/** Below this a Node worker process cannot even start (an idle one holds ~80-120 MB). */
export const MIN_WORKER_RSS_MB = 128;
export const MAX_WORKER_PROCESSES = 256;

/**
 * WORKER_PROCESSES / --processes: a whole number from 1 to 256, or "auto"
 * (one per CPU the process may use); unset → undefined. `name` is what the
 * error names (the variable or the flag).
 */
export function parseWorkerProcesses(raw: string | undefined, name: string): number | undefined {
  const v = raw?.trim();
  if (v === undefined || v === '') return undefined;
  if (v.toLowerCase() === 'auto') return Math.max(1, Math.min(MAX_WORKER_PROCESSES, availableParallelism()));
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_WORKER_PROCESSES) {
    const what = name.startsWith('--') ? `${name} ${JSON.stringify(v)}` : `${name}=${JSON.stringify(v)}`;
    throw new ConveyorError('CONFIG_INVALID', `${what} is invalid: expected a whole number from 1 to ${MAX_WORKER_PROCESSES}, or "auto" (one per CPU).`, { variable: name });
  }
  return Number(v);
}

function bad(name: string, value: string, why: string): ConveyorError {
  return new ConveyorError('CONFIG_INVALID', `${name}=${JSON.stringify(value)} is invalid: ${why}.`, { variable: name });
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw)) throw bad(name, raw, 'expected a whole number');
  const n = Number(raw);
  if (n < min || n > max) throw bad(name, raw, `expected a number from ${min} to ${max}`);
  return n;
}

function list(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A bad API_TOKENS entry, named by position and name, never by its token. */
function badToken(i: number, name: string | undefined, why: string): ConveyorError {
  const which = `entry ${i + 1}${name ? ` ("${name}")` : ''}`;
  return new ConveyorError('CONFIG_INVALID', `API_TOKENS ${which} is invalid: ${why}.`, { variable: 'API_TOKENS', entry: i + 1 });
}

/**
 * A comma-separated list of Redis URLs. Sentinel and Cluster URLs hold commas
 * of their own (host1,host2), so a comma only starts a new URL when a
 * scheme:// follows it.
 */
function urlList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseApiTokens(raw: string | undefined): ApiToken[] {
  if (raw === undefined || raw.trim() === '') return [];
  const tokens: ApiToken[] = [];
  raw.split(',').forEach((entry, i) => {
    const e = entry.trim();
    if (e === '') return;
    const parts = e.split(':');
    if (parts.length === 1) {
      if (e.length < MIN_TOKEN_LENGTH) throw badToken(i, undefined, `a token must be at least ${MIN_TOKEN_LENGTH} characters`);
      tokens.push({ name: `token${i + 1}`, token: e, scopes: ALL_SCOPES, grants: ALL_SCOPES.map((scope) => ({ scope, queues: undefined })) });
      return;
    }
    if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) {
      throw badToken(i, undefined, 'each entry is "token" or "name:token:scope[+scope...]" (a scope may be scope@queue-pattern)');
    }
    const [name, token, scopeList] = parts as [string, string, string];
    const grants: Grant[] = [];
    for (const item of scopeList.split('+')) {
      // scope or scope@pattern
      const at = item.indexOf('@');
      const s = at === -1 ? item : item.slice(0, at);
      const pattern = at === -1 ? undefined : item.slice(at + 1);
      if (!(ALL_SCOPES as readonly string[]).includes(s)) throw badToken(i, name, `unknown scope "${s}" (scopes are enqueue, read, admin, each optionally @queue-pattern)`);
      if (pattern !== undefined && !QUEUE_PATTERN.test(pattern)) {
        throw badToken(i, name, `"${item}": a queue pattern is 1-64 characters of A-Z a-z 0-9 . _ - and * (e.g. enqueue@emails.*)`);
      }
      // "*" alone is every queue: the same as no pattern.
      grants.push({ scope: s as Scope, queues: pattern === '*' ? undefined : pattern });
    }
    if (token.length < MIN_TOKEN_LENGTH) throw badToken(i, name, `a token must be at least ${MIN_TOKEN_LENGTH} characters`);
    const unique = new Map(grants.map((g) => [`${g.scope}@${g.queues ?? '*'}`, g]));
    tokens.push({ name, token, scopes: [...new Set(grants.map((g) => g.scope))], grants: [...unique.values()] });
  });
  const names = new Set<string>();
  const values = new Set<string>();
  tokens.forEach((t, i) => {
    if (names.has(t.name)) throw badToken(i, t.name, 'token names must be unique');
    // One token with two scope sets would make its rights depend on list order.
    if (values.has(t.token)) throw badToken(i, t.name, 'the same token appears twice');
    names.add(t.name);
    values.add(t.token);
  });
  return tokens;
}

/**
 * DASHBOARD_READONLY_USERS="user:password,...": a user name ends at the first
 * ":" (so passwords may hold ":"), entries are separated by "," (so passwords
 * may not). Names are unique and differ from DASHBOARD_USER.
 */
export function parseReadonlyUsers(raw: string | undefined, adminUser: string | undefined): { user: string; password: string }[] {
  if (raw === undefined || raw.trim() === '') return [];
  const users: { user: string; password: string }[] = [];
  raw.split(',').forEach((entry, i) => {
    if (entry.trim() === '') return;
    const colon = entry.indexOf(':');
    const user = colon === -1 ? '' : entry.slice(0, colon).trim();
    const password = colon === -1 ? '' : entry.slice(colon + 1);
    const which = `DASHBOARD_READONLY_USERS entry ${i + 1}${user ? ` ("${user}")` : ''}`;
    if (!user || !password) throw new ConveyorError('CONFIG_INVALID', `${which} is invalid: each entry is "user:password".`, { variable: 'DASHBOARD_READONLY_USERS' });
    if (user === adminUser) throw new ConveyorError('CONFIG_INVALID', `${which} is invalid: "${user}" is DASHBOARD_USER already; a user has one role.`, { variable: 'DASHBOARD_READONLY_USERS' });
    if (users.some((u) => u.user === user)) throw new ConveyorError('CONFIG_INVALID', `${which} is invalid: "${user}" appears twice.`, { variable: 'DASHBOARD_READONLY_USERS' });
    users.push({ user, password });
  });
  return users;
}

function readCa(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw bad('REDIS_TLS_CA', path, `cannot read the file (${(err as Error).message})`);
  }
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const redisUrl = env.REDIS_URL?.trim();
  // CONVEYOR_LOCAL_REDIS_PORT exists so tests of `npm start` never take 6380 (or 6379).
  const localRedisPort = int(env, 'CONVEYOR_LOCAL_REDIS_PORT', LOCAL_REDIS_PORT, 1, 65535);
  const redis = parseRedisUrl(redisUrl || `redis://127.0.0.1:${localRedisPort}`);

  // Deduplicated: one BullMQ worker per queue per process.
  const queues = [...new Set(list(env, 'QUEUES'))];
  for (const q of queues) {
    if (!isValidQueueName(q)) throw bad('QUEUES', q, 'queue names are 1-64 characters of A-Z a-z 0-9 . _ -');
  }

  const interop = [...new Set(list(env, 'INTEROP').map((s) => s.toLowerCase()))];
  for (const i of interop) {
    if (i !== 'sidekiq' && i !== 'resque') throw bad('INTEROP', i, 'expected a comma-separated list of sidekiq, resque');
  }

  const interopQueues = [...new Set(list(env, 'INTEROP_QUEUES'))];
  for (const q of interopQueues) {
    if (!isValidQueueName(q)) throw bad('INTEROP_QUEUES', q, 'queue names are 1-64 characters of A-Z a-z 0-9 . _ -');
  }

  // Unset or empty means every host (link-local and metadata addresses stay refused).
  const listedHosts = list(env, 'HTTP_ALLOWED_HOSTS');
  const allowed = listedHosts.length > 0 ? listedHosts : ['*'];
  for (const h of allowed) {
    if (!/^(\*|(\*\.)?[A-Za-z0-9.-]+|\[?[0-9a-fA-F:.]+\]?)$/.test(h)) {
      throw bad('HTTP_ALLOWED_HOSTS', h, 'expected host names, *.domain patterns or *');
    }
  }

  const user = env.DASHBOARD_USER?.trim() || undefined;
  const password = env.DASHBOARD_PASSWORD || undefined;
  if ((user === undefined) !== (password === undefined)) {
    const [set, missing] = user ? ['DASHBOARD_USER', 'DASHBOARD_PASSWORD'] : ['DASHBOARD_PASSWORD', 'DASHBOARD_USER'];
    throw new ConveyorError('CONFIG_INVALID', `${set} is set but ${missing} is not: set both (dashboard login) or neither (the dashboard then listens on 127.0.0.1 only).`, { variable: missing });
  }

  const sessionSecret = env.DASHBOARD_SESSION_SECRET || undefined;
  if (sessionSecret !== undefined && sessionSecret.length < 16) {
    throw bad('DASHBOARD_SESSION_SECRET', '***', 'use at least 16 random characters');
  }

  const readonlyUsers = parseReadonlyUsers(env.DASHBOARD_READONLY_USERS, user);
  const heartbeatIntervalMs = int(env, 'HEARTBEAT_INTERVAL_MS', 5000, 50, 600_000);
  const heartbeatTtlMs = int(env, 'HEARTBEAT_TTL_MS', heartbeatIntervalMs * 3, 100, 3600_000);
  if (heartbeatTtlMs <= heartbeatIntervalMs) {
    throw bad('HEARTBEAT_TTL_MS', String(heartbeatTtlMs), `it must be longer than HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs}), or every worker flickers out of the fleet between beats`);
  }

  const logLevel = (env.LOG_LEVEL ?? 'info').trim().toLowerCase();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw bad('LOG_LEVEL', logLevel, 'expected one of fatal, error, warn, info, debug, trace, silent');
  }

  const config: Config = {
    redis,
    redisUrlExplicit: Boolean(redisUrl),
    redisTlsCa: readCa(env.REDIS_TLS_CA?.trim()),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 5000, 100, 600_000),
    apiPort: int(env, 'API_PORT', 3000, 0, 65535),
    dashboardPort: int(env, 'DASHBOARD_PORT', 3001, 0, 65535),
    apiTokens: parseApiTokens(env.API_TOKENS),
    dashboardUser: user,
    dashboardPassword: password,
    dashboardSessionSecret: sessionSecret,
    dashboardReadonlyUsers: readonlyUsers,
    dashboardAlertWaitingMs: int(env, 'DASHBOARD_ALERT_WAITING_MS', 300_000, 1000, 30 * 24 * 3600_000),
    heartbeatIntervalMs,
    heartbeatTtlMs,
    localRedisPort,
    conveyorHome: env.CONVEYOR_HOME?.trim() || '.conveyor',
    localHistoryPort: int(env, 'CONVEYOR_LOCAL_HISTORY_PORT', LOCAL_HISTORY_PORT, 0, 65535),
    haBasePort: int(env, 'CONVEYOR_HA_BASE_PORT', 6390, 1024, 45_533),
    queues: queues.length > 0 ? queues : ['default'],
    queuesExplicit: queues.length > 0,
    concurrency: int(env, 'CONCURRENCY', 10, 1, 10_000),
    workerProcesses: parseWorkerProcesses(env.WORKER_PROCESSES, 'WORKER_PROCESSES'),
    workerMaxRssMb: env.WORKER_MAX_RSS_MB?.trim() ? int(env, 'WORKER_MAX_RSS_MB', 0, MIN_WORKER_RSS_MB, 1024 * 1024) : undefined,
    handlersPath: env.HANDLERS?.trim() || undefined,
    workerIsolation: isolation(env),
    sandboxMaxHeapMb: env.SANDBOX_MAX_HEAP_MB?.trim() ? int(env, 'SANDBOX_MAX_HEAP_MB', 0, 16, 1_048_576) : undefined,
    schedulesFile: env.SCHEDULES?.trim() || undefined,
    limitsFile: env.LIMITS?.trim() || undefined,
    enqueueMinReplicas: int(env, 'ENQUEUE_MIN_REPLICAS', 0, 0, 100),
    enqueueWaitTimeoutMs: int(env, 'ENQUEUE_WAIT_TIMEOUT_MS', 2000, 1, 60_000),
    maxPayloadBytes: int(env, 'MAX_PAYLOAD_BYTES', 524_288, 1, 512 * 1024 * 1024),
    httpAllowedHosts: allowed,
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 30_000, 0, 24 * 3600_000),
    lockDurationMs: int(env, 'LOCK_DURATION_MS', 10_000, 1000, 3600_000),
    stalledIntervalMs: int(env, 'STALLED_INTERVAL_MS', 5_000, 500, 3600_000),
    interop: interop as ('sidekiq' | 'resque')[],
    interopQueues,
    drainRedisUrls: urlList(env.DRAIN_REDIS_URLS).map((u) => parseRedisUrl(u, 'DRAIN_REDIS_URLS')),
    logLevel,
    metricsPort: env.METRICS_PORT?.trim() ? int(env, 'METRICS_PORT', 0, 0, 65535) : undefined,
    metricsHost: env.METRICS_HOST?.trim() || '0.0.0.0',
    bulkMax: int(env, 'BULK_MAX', 1000, 1, 100_000),
    apiRateLimit: int(env, 'API_RATE_LIMIT', 0, 0, 1_000_000),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 3600_000),
    maxJsonDepth: int(env, 'MAX_JSON_DEPTH', 64, 2, 10_000),
    tracing: tracingConfig(env),
    history: historyConfig(env),
  };
  return deepFreeze(config);
}

function historyConfig(env: Env): HistoryConfig | undefined {
  const raw = env.HISTORY_URL?.trim();
  for (const name of ['HISTORY_RETENTION_DAYS', 'HISTORY_PAYLOAD_MAX_BYTES', 'HISTORY_PAYLOAD_OFF', 'HISTORY_STREAM_MAXLEN']) {
    if (!raw && env[name]?.trim()) throw new ConveyorError('CONFIG_INVALID', `${name} is set but HISTORY_URL is not: set HISTORY_URL=postgres://… to keep job history, or unset ${name}.`, { variable: 'HISTORY_URL' });
  }
  if (!raw) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || (url.hostname === '' && !url.searchParams.get('host'))) {
    throw bad('HISTORY_URL', redactUrl(raw), 'expected a PostgreSQL URL, postgres://user:password@host:5432/database');
  }
  const off = [...new Set(list(env, 'HISTORY_PAYLOAD_OFF'))];
  for (const n of off) if (/\p{Cc}/u.test(n) || n.length > 128) throw bad('HISTORY_PAYLOAD_OFF', n, 'expected a comma-separated list of job names (or *)');
  return {
    url: raw,
    redacted: redactUrl(raw),
    retentionDays: int(env, 'HISTORY_RETENTION_DAYS', 30, 1, 36_500),
    payloadMaxBytes: int(env, 'HISTORY_PAYLOAD_MAX_BYTES', 65_536, 0, 64 * 1024 * 1024),
    payloadOff: off,
    streamMaxLen: int(env, 'HISTORY_STREAM_MAXLEN', 100_000, 1000, 100_000_000),
  };
}

function isolation(env: Env): Config['workerIsolation'] {
  const raw = (env.WORKER_ISOLATION ?? '').trim().toLowerCase();
  if (raw === '') return 'none';
  if (raw !== 'none' && raw !== 'process' && raw !== 'thread') throw bad('WORKER_ISOLATION', raw, 'expected none, process or thread');
  return raw;
}

function tracingConfig(env: Env): Config['tracing'] {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const flag = env.CONVEYOR_OTEL?.trim().toLowerCase();
  if (flag !== undefined && flag !== '' && !['0', '1', 'true', 'false'].includes(flag)) throw bad('CONVEYOR_OTEL', flag, 'expected 1 or 0');
  const on = flag === '1' || flag === 'true';
  if (!endpoint && !on) return undefined;
  if (flag === '0' || flag === 'false') return undefined;
  const url = endpoint || 'http://localhost:4318';
  if (!/^https?:\/\/[^\s/]+/i.test(url)) throw bad('OTEL_EXPORTER_OTLP_ENDPOINT', url, 'expected an http(s):// URL of an OTLP/HTTP collector');
  // OTEL_EXPORTER_OTLP_HEADERS: "key=value,key2=value2" (a collector's API key); values are secrets.
  const headers: Record<string, string> = {};
  for (const pair of list(env, 'OTEL_EXPORTER_OTLP_HEADERS')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw bad('OTEL_EXPORTER_OTLP_HEADERS', '***', 'expected key=value pairs separated by commas');
    try {
      headers[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw bad('OTEL_EXPORTER_OTLP_HEADERS', '***', 'a key or value has a malformed %-escape');
    }
  }
  return { endpoint: url.replace(/\/+$/, ''), serviceName: env.OTEL_SERVICE_NAME?.trim() || 'conveyor', headers };
}

/** Frozen all the way down: no part of the config can change after start. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What a process prints at start: every setting, secrets redacted. */
export function describeConfig(config: Readonly<Config>): Record<string, unknown> {
  return {
    redis: config.redis.redacted,
    redisUrlExplicit: config.redisUrlExplicit,
    apiPort: config.apiPort,
    dashboardPort: config.dashboardPort,
    apiTokens: config.apiTokens.map((t) => `${t.name}:***:${t.grants.map((g) => (g.queues ? `${g.scope}@${g.queues}` : g.scope)).join('+')}`),
    dashboardUser: config.dashboardUser,
    dashboardPassword: config.dashboardPassword ? '***' : undefined,
    dashboardSessionSecret: config.dashboardSessionSecret ? '***' : undefined,
    dashboardReadonlyUsers: config.dashboardReadonlyUsers.map((u) => `${u.user}:***`),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTtlMs: config.heartbeatTtlMs,
    queues: config.queues,
    concurrency: config.concurrency,
    workerProcesses: config.workerProcesses,
    workerMaxRssMb: config.workerMaxRssMb,
    handlersPath: config.handlersPath,
    workerIsolation: config.workerIsolation,
    sandboxMaxHeapMb: config.sandboxMaxHeapMb,
    schedulesFile: config.schedulesFile,
    limitsFile: config.limitsFile,
    enqueueMinReplicas: config.enqueueMinReplicas,
    maxPayloadBytes: config.maxPayloadBytes,
    httpAllowedHosts: config.httpAllowedHosts,
    shutdownGraceMs: config.shutdownGraceMs,
    interop: config.interop,
    interopQueues: config.interopQueues,
    drainRedisUrls: config.drainRedisUrls.map((t) => t.redacted),
    logLevel: config.logLevel,
    metricsPort: config.metricsPort,
    bulkMax: config.bulkMax,
    apiRateLimit: config.apiRateLimit,
    requestTimeoutMs: config.requestTimeoutMs,
    maxJsonDepth: config.maxJsonDepth,
    tracing: config.tracing
      ? { endpoint: redactUrl(config.tracing.endpoint), serviceName: config.tracing.serviceName, headers: Object.keys(config.tracing.headers).map((k) => `${k}=***`) }
      : undefined,
    history: config.history ? { ...config.history, url: config.history.redacted, redacted: undefined } : undefined,
  };
}

export { redactUrl };
