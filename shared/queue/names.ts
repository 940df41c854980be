/**
 * Names and Redis keys: the one builder. Every Conveyor queue is a BullMQ queue
 * under the prefix "conveyor" whose BullMQ name is the queue name in a Redis
 * Cluster hash tag ("{emails}"), so all of a queue's keys, its dead letters and
 * its schedules share one hash slot and different queues spread over shards.
 */
export const PREFIX = 'conveyor';

const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
// Printable: no control characters (C0, DEL, C1); 1-128 characters.
const JOB_NAME = /^[^\p{Cc}]{1,128}$/u;
// A lone surrogate ("\ud800" in JSON) is not text: Redis would store U+FFFD in its place and the name or id would change.
const LONE_SURROGATE = /\p{Cs}/u;

export function isValidQueueName(name: unknown): name is string {
  return typeof name === 'string' && QUEUE_NAME.test(name);
}

export function isValidJobName(name: unknown): name is string {
  return typeof name === 'string' && JOB_NAME.test(name) && name.trim() !== '' && !LONE_SURROGATE.test(name);
}

/** A job's flow key (a tenant, a customer, an account) and a debounce/throttle id: 1-128 printable characters. */
export function isValidFlowKey(key: unknown): key is string {
  return typeof key === 'string' && JOB_NAME.test(key) && key.trim() !== '' && !LONE_SURROGATE.test(key);
}

export const FLOW_KEY_MESSAGE = 'must be 1-128 printable characters';

/** The flow gate's name for jobs without a key on a queue with perKey limits: they count as one key. */
export const NO_KEY = '';
/** How that key is shown (API, dashboard, CLI). */
export const NO_KEY_LABEL = '(no key)';

/**
 * BullMQ's own key names under a queue ("conveyor:{q}:meta", ":wait", ...). A
 * job's hash is "conveyor:{q}:<id>", so a job with one of these ids would
 * collide with the queue's own structures (BullMQ then skips the add as a
 * "duplicate" and the job is silently lost).
 */
export const RESERVED_JOB_IDS: ReadonlySet<string> = new Set([
  'active', 'wait', 'waiting-children', 'paused', 'id', 'delayed', 'prioritized', 'stalled-check', 'completed',
  'failed', 'stalled', 'repeat', 'limiter', 'meta', 'events', 'pc', 'marker', 'de', 'metrics',
]);

/** Job ids chosen by callers: printable, no ':' (BullMQ reserves it), not an integer (BullMQ's own ids are), not a BullMQ key name. */
export function isValidJobId(id: unknown): id is string {
  return typeof id === 'string' && JOB_NAME.test(id) && !LONE_SURROGATE.test(id) && !id.includes(':') && `${parseInt(id, 10)}` !== id && !RESERVED_JOB_IDS.has(id);
}

/** The BullMQ queue name of a Conveyor queue. */
export function bullName(queue: string): string {
  return `{${queue}}`;
}

/** The BullMQ queue name of a Conveyor queue's dead-letter queue (same hash slot). */
export function deadBullName(queue: string): string {
  return `{${queue}}.dead`;
}

/** Conveyor's own keys (not BullMQ's). */
export const keys = {
  /** Set of every queue name any producer or worker has used. */
  queueRegistry: `${PREFIX}:queues`,
  /** A BullMQ job hash (used for the cheap existence check of idempotent enqueues). */
  job: (queue: string, id: string) => `${PREFIX}:${bullName(queue)}:${id}`,
  /**
   * The fleet: every key under one hash tag, so a beat is one MULTI even on
   * Redis Cluster. Reading the fleet never SCANs: the index names the live ids.
   * ("conveyor:fleet:{fleet}:..." cannot collide with a queue's BullMQ keys,
   * which all start "conveyor:{".)
   */
  /** Worker heartbeat (one key per process, with a TTL: a dead process disappears by itself). */
  workerBeat: (workerId: string) => `${PREFIX}:fleet:{fleet}:worker:${workerId}`,
  /** Sorted set: worker id → time of its last beat (ms). */
  workerIndex: `${PREFIX}:fleet:{fleet}:workers`,
  /** A command waiting for one worker (quiet, stop); read and deleted by its next beat. */
  workerCommand: (workerId: string) => `${PREFIX}:fleet:{fleet}:command:${workerId}`,
  /** Hash of jobs processed / failed / dead-lettered per queue in one minute (epoch minute). */
  throughput: (minute: number) => `${PREFIX}:fleet:{fleet}:throughput:${minute}`,
  /** Control channel: commands for worker processes (quiet, stop), delivered at once. */
  controlChannel: `${PREFIX}:control`,
  /** List of dashboard operator actions, newest first, capped. */
  audit: `${PREFIX}:audit`,
  /** Hash of every cron schedule: schedule id → its definition and state (JSON); it finds a schedule's queue. */
  schedules: `${PREFIX}:schedules`,
  /** Short lock (SET NX PX) serialising changes to one schedule across processes. */
  scheduleLock: (id: string) => `${PREFIX}:schedules:lock:${id}`,
  /** List of primary changes the processes saw (JSON {at, from, to, seenBy, kind}), newest first, capped. */
  failovers: `${PREFIX}:failovers`,
  /** A dashboard session ended by logout (expires with the session): every dashboard process refuses its cookie. */
  revokedSession: (sid: string) => `${PREFIX}:dashboard:revoked:${sid}`,
  /** Sorted set of failed dashboard logins (score: time) for one client address or user name ("ip:…", "user:…"). */
  loginFailures: (who: string) => `${PREFIX}:dashboard:login-failures:${who}`,
} as const;
