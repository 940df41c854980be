/**
 * The environment variables as typed options (Conveyor.connect({ … })): one
 * table maps each option to its variable. The options become an environment
 * record and go through loadConfig, so an option has exactly its variable's
 * default and validation, and a bad one is CONFIG_INVALID naming the option.
 */
import { ConveyorError } from '../errors.ts';
import { loadConfig, type Config } from './config.ts';

/** Every setting of README "Configuration", by option name. */
export interface ConfigOptions {
  /** REDIS_URL: where the queues live (redis://, rediss://, redis-sentinel://, redis-cluster://). Default: the local Redis of `conveyor start` (127.0.0.1:6380). */
  redisUrl?: string;
  /** REDIS_TLS_CA: path of a CA file for rediss:// */
  redisTlsCa?: string;
  /** REDIS_COMMAND_TIMEOUT_MS (5000): how long a command waits for Redis before REDIS_UNAVAILABLE. */
  redisCommandTimeoutMs?: number;
  /** ENQUEUE_MIN_REPLICAS (0): durable enqueue, acknowledged once this many replicas hold the job. */
  enqueueMinReplicas?: number;
  /** ENQUEUE_WAIT_TIMEOUT_MS (2000): how long durable enqueue waits for the replicas. */
  enqueueWaitTimeoutMs?: number;
  /** MAX_PAYLOAD_BYTES (524288): largest job payload accepted. */
  maxPayloadBytes?: number;
  /** BULK_MAX (1000): jobs per bulk enqueue. */
  bulkMax?: number;
  /** MAX_JSON_DEPTH (64): nesting depth of a payload. */
  maxJsonDepth?: number;
  /** QUEUES (["default"]): the queues a worker consumes. */
  queues?: readonly string[];
  /** CONCURRENCY (10): jobs one worker process runs at once. */
  concurrency?: number;
  /** HANDLERS: a module or folder of plain job handlers. */
  handlers?: string;
  /** WORKER_ISOLATION (none): where workers run job handlers whose definition does not say: none, process or thread (sandboxed). */
  workerIsolation?: 'none' | 'process' | 'thread';
  /** SANDBOX_MAX_HEAP_MB: the heap limit of each sandboxed handler's process or thread (default: Node's). */
  sandboxMaxHeapMb?: number;
  /** SCHEDULES: a JSON file of cron schedules applied at server and worker start. */
  schedules?: string;
  /** LIMITS: a JSON file of queue flow limits ({"<queue>": {concurrency, rate, perKey}}) applied at server and worker start. */
  limits?: string;
  /** HTTP_ALLOWED_HOSTS (["*"]): hosts the built-in http handler may call. */
  httpAllowedHosts?: readonly string[];
  /** SHUTDOWN_GRACE_MS (30000): how long a stopping worker lets running jobs finish. */
  shutdownGraceMs?: number;
  /** LOCK_DURATION_MS (10000): a running job's lock. */
  lockDurationMs?: number;
  /** STALLED_INTERVAL_MS (5000): how often workers look for jobs whose lock lapsed. */
  stalledIntervalMs?: number;
  /** HEARTBEAT_INTERVAL_MS (5000) / HEARTBEAT_TTL_MS (3 × interval): worker heartbeats. */
  heartbeatIntervalMs?: number;
  heartbeatTtlMs?: number;
  /** INTEROP: move Sidekiq- / Resque-format jobs into Conveyor queues. */
  interop?: readonly ('sidekiq' | 'resque')[];
  /** INTEROP_QUEUES: the foreign queues the bridge moves (default all). */
  interopQueues?: readonly string[];
  /** DRAIN_REDIS_URLS: during a migration, other deployments a worker also drains. */
  drainRedisUrls?: readonly string[];
  /** METRICS_PORT / METRICS_HOST: a standalone worker's /metrics endpoint. */
  metricsPort?: number;
  metricsHost?: string;
  /** API_PORT (3000), API_TOKENS, API_RATE_LIMIT (0), REQUEST_TIMEOUT_MS (30000): the HTTP API. */
  apiPort?: number;
  apiTokens?: string;
  apiRateLimit?: number;
  requestTimeoutMs?: number;
  /** DASHBOARD_*: the dashboard's port, login, session key, read-only users and alert threshold. */
  dashboardPort?: number;
  dashboardUser?: string;
  dashboardPassword?: string;
  dashboardSessionSecret?: string;
  dashboardReadonlyUsers?: string;
  dashboardAlertWaitingMs?: number;
  /** HISTORY_URL: job history in PostgreSQL (postgres://…), for conveyor.history. */
  historyUrl?: string;
  /** HISTORY_RETENTION_DAYS (30): days of job history kept. */
  historyRetentionDays?: number;
  /** LOG_LEVEL (info): fatal, error, warn, info, debug, trace or silent. */
  logLevel?: string;
  /** CONVEYOR_HOME (.conveyor) and CONVEYOR_LOCAL_REDIS_PORT (6380): `conveyor start`'s own Redis. */
  conveyorHome?: string;
  localRedisPort?: number;
}

export const OPTION_VARIABLES = {
  redisUrl: 'REDIS_URL',
  redisTlsCa: 'REDIS_TLS_CA',
  redisCommandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  enqueueMinReplicas: 'ENQUEUE_MIN_REPLICAS',
  enqueueWaitTimeoutMs: 'ENQUEUE_WAIT_TIMEOUT_MS',
  maxPayloadBytes: 'MAX_PAYLOAD_BYTES',
  bulkMax: 'BULK_MAX',
  maxJsonDepth: 'MAX_JSON_DEPTH',
  queues: 'QUEUES',
  concurrency: 'CONCURRENCY',
  handlers: 'HANDLERS',
  workerIsolation: 'WORKER_ISOLATION',
  sandboxMaxHeapMb: 'SANDBOX_MAX_HEAP_MB',
  schedules: 'SCHEDULES',
  limits: 'LIMITS',
  httpAllowedHosts: 'HTTP_ALLOWED_HOSTS',
  shutdownGraceMs: 'SHUTDOWN_GRACE_MS',
  lockDurationMs: 'LOCK_DURATION_MS',
  stalledIntervalMs: 'STALLED_INTERVAL_MS',
  heartbeatIntervalMs: 'HEARTBEAT_INTERVAL_MS',
  heartbeatTtlMs: 'HEARTBEAT_TTL_MS',
  interop: 'INTEROP',
  interopQueues: 'INTEROP_QUEUES',
  drainRedisUrls: 'DRAIN_REDIS_URLS',
  metricsPort: 'METRICS_PORT',
  metricsHost: 'METRICS_HOST',
  apiPort: 'API_PORT',
  apiTokens: 'API_TOKENS',
  apiRateLimit: 'API_RATE_LIMIT',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
  dashboardPort: 'DASHBOARD_PORT',
  dashboardUser: 'DASHBOARD_USER',
  dashboardPassword: 'DASHBOARD_PASSWORD',
  dashboardSessionSecret: 'DASHBOARD_SESSION_SECRET',
  dashboardReadonlyUsers: 'DASHBOARD_READONLY_USERS',
  dashboardAlertWaitingMs: 'DASHBOARD_ALERT_WAITING_MS',
  historyUrl: 'HISTORY_URL',
  historyRetentionDays: 'HISTORY_RETENTION_DAYS',
  logLevel: 'LOG_LEVEL',
  conveyorHome: 'CONVEYOR_HOME',
  localRedisPort: 'CONVEYOR_LOCAL_REDIS_PORT',
} as const satisfies Record<keyof ConfigOptions, string>;

const VARIABLE_OPTIONS: ReadonlyMap<string, string> = new Map(Object.entries(OPTION_VARIABLES).map(([o, v]) => [v, o]));

function bad(option: string, why: string): ConveyorError {
  return new ConveyorError('CONFIG_INVALID', `option ${option} is invalid: ${why}.`, { option });
}

/** The value of one option as its variable would hold it. */
function asVariable(option: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw bad(option, `${value} is not a finite number`);
    return String(value);
  }
  if (Array.isArray(value)) {
    return value
      .map((v, i) => {
        if (typeof v !== 'string') throw bad(option, `entry ${i + 1} is a ${typeof v}, expected a string`);
        if (v.includes(',') && option !== 'drainRedisUrls') throw bad(option, `entry ${i + 1} ("${v}") holds a comma`);
        return v;
      })
      .join(',');
  }
  throw bad(option, `expected ${typeof value === 'boolean' ? 'a number, a string or a list of strings, not a boolean' : `a number, a string or a list of strings, not ${value === null ? 'null' : typeof value}`}`);
}

/**
 * Options → the frozen Config, validated exactly as the environment would
 * be. An unknown option is CONFIG_INVALID naming it (a typo must not be
 * silently ignored); undefined values are left out.
 */
export function configFromOptions(options: ConfigOptions & Record<string, unknown>, extraKeys: ReadonlySet<string> = new Set()): Readonly<Config> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConveyorError('CONFIG_INVALID', 'Conveyor options must be an object ({ redisUrl, … })');
  }
  const env: Record<string, string> = {};
  for (const [option, value] of Object.entries(options)) {
    if (extraKeys.has(option)) continue;
    const variable = (OPTION_VARIABLES as Record<string, string>)[option];
    if (variable === undefined) throw bad(option, `there is no such option (options: ${Object.keys(OPTION_VARIABLES).join(', ')})`);
    if (value === undefined) continue;
    env[variable] = asVariable(option, value);
  }
  try {
    return loadConfig(env);
  } catch (err) {
    throw err instanceof ConveyorError ? inOptionTerms(err) : err;
  }
}

const VARIABLE_NAMES = new RegExp(`\\b(${[...VARIABLE_OPTIONS.keys()].sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');

/** loadConfig's error, speaking of the options the caller passed rather than the variables they stand for. */
function inOptionTerms(err: ConveyorError): ConveyorError {
  const message = err.message.replace(VARIABLE_NAMES, (v) => VARIABLE_OPTIONS.get(v) ?? v);
  const { variable, ...rest } = (err.details ?? {}) as { variable?: unknown };
  const details = { ...rest, ...(typeof variable === 'string' ? { option: VARIABLE_OPTIONS.get(variable) ?? variable } : {}) };
  return new ConveyorError(err.code, message, details, { cause: err });
}
