/**
 * The never-hang guards of a connection, on one timer per connection.
 *
 * Conveyor promises that no call waits on Redis for ever: a producer's
 * command fails within its command timeout (the API answers 503), and a
 * socket that gets no reply for too long is dropped and reconnected (a frozen
 * primary, a half-open TCP connection after a failover). ioredis offers both
 * as options, `commandTimeout` and `socketTimeout`, but arms them per command:
 * a `setTimeout` for every command and, on a pipeline that has just gone
 * idle, another `setTimeout` plus a `once('data')` listener. On a busy
 * producer that was a third of everything Conveyor adds to an enqueue.
 *
 * Here one interval per connection does the same work by looking at the
 * commands in flight (ioredis keeps them in `commandQueue`, those waiting for
 * a connection in `offlineQueue`, and those to resend after a reconnect in
 * `prevCommandQueue`):
 *
 * - command timeout: a command still waiting when the timer first sees it is
 *   stamped with that time; one that is still waiting `commandTimeoutMs`
 *   later is rejected with ioredis' own "Command timed out" error. Commands
 *   answered between two ticks (nearly all of them) cost nothing.
 * - socket timeout: replies come in order, so while the oldest command in
 *   flight stays the same, nothing was read. When it has not changed for
 *   `socketTimeoutMs`, the socket is destroyed as ioredis' socketTimeout
 *   would, and ioredis reconnects (for Sentinel: asks where the primary is).
 *
 * A command may thus fail up to one tick (a tenth of the timeout, at most
 * 500 ms) later than exactly on time; callers that need a sharp bound have
 * their own (the producer's deadline, deadlines.ts).
 *
 * This reads ioredis internals (pinned version, checked by
 * liveness.redis.test.ts). Should they ever look different, the guard falls
 * back to ioredis' per-command options, which do the same at a higher cost.
 */
import type { Cluster, Redis } from 'ioredis';

export interface GuardOptions {
  /** Reject a command that has waited this long (producers); undefined = never (workers). */
  commandTimeoutMs?: number | undefined;
  /** Drop the socket when the oldest command in flight got no reply for this long. */
  socketTimeoutMs: number;
}

interface Queued {
  command: { name?: string; args?: unknown[]; isSettled?: boolean; reject(err: Error): void };
}
interface CommandDeque {
  readonly length: number;
  peekAt(i: number): Queued | undefined;
  peekFront(): Queued | undefined;
}
interface Internals {
  commandQueue: CommandDeque;
  offlineQueue: CommandDeque;
  prevCommandQueue?: CommandDeque | null;
  stream?: { destroy(err?: Error): void; destroyed?: boolean };
  options: { commandTimeout?: number; socketTimeout?: number };
}

const MIN_TICK_MS = 20;
const MAX_TICK_MS = 500;

const guards = new WeakMap<object, { stop(): void }>();

/**
 * WAIT numreplicas timeout blocks on the server by design: it gets its own
 * timeout on top (a durable enqueue may wait longer than a plain command).
 */
function ownWaitMs(cmd: Queued['command'] | undefined): number {
  if (cmd?.name?.toLowerCase() !== 'wait') return 0;
  const ms = Number(cmd.args?.[1]);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Rejects the commands of a queue that have waited past the limit; stamps those seen for the first time. */
function expire(q: CommandDeque | null | undefined, stamped: WeakMap<object, number>, now: number, limit: number): void {
  if (!q) return;
  for (let i = 0; i < q.length; i++) {
    const cmd = q.peekAt(i)?.command;
    if (!cmd || cmd.isSettled) continue;
    const at = stamped.get(cmd);
    if (at === undefined) stamped.set(cmd, now);
    else if (now - at >= limit + ownWaitMs(cmd)) cmd.reject(new Error('Command timed out'));
  }
}

/** Runs tick every tickMs from the first connect until the connection ends (again after a reconnect). */
function runWhileOpen(conn: Redis | Cluster, tickMs: number, tick: () => void, onStop?: () => void): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) return;
    timer = setInterval(tick, tickMs);
    timer.unref();
  };
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
    onStop?.();
  };
  conn.on('connecting', arm);
  conn.on('end', stop);
  if (conn.status !== 'end') arm();
  return { stop };
}

function isDeque(q: unknown): q is CommandDeque {
  return typeof q === 'object' && q !== null && typeof (q as CommandDeque).peekAt === 'function' && typeof (q as CommandDeque).peekFront === 'function' && typeof (q as CommandDeque).length === 'number';
}

/** The interval at which a guard with these timeouts looks at its connection. */
export function guardTickMs(opts: GuardOptions): number {
  const shortest = Math.min(opts.commandTimeoutMs ?? Infinity, opts.socketTimeoutMs);
  return Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / 10)));
}

/** Puts a connection under the guards; idempotent. Returns false when it fell back to ioredis' per-command timers. */
export function guardConnection(conn: Redis, opts: GuardOptions): boolean {
  if (guards.has(conn)) return true;
  const c = conn as unknown as Internals;
  if (!isDeque(c.commandQueue) || !isDeque(c.offlineQueue)) {
    // Not the ioredis this was written against: let ioredis arm its own timers.
    if (opts.commandTimeoutMs !== undefined) c.options.commandTimeout = opts.commandTimeoutMs;
    c.options.socketTimeout = opts.socketTimeoutMs;
    return false;
  }
  const stamped = new WeakMap<object, number>();
  let head: object | undefined;
  let headSince = 0;

  const tick = () => {
    const now = performance.now();
    if (opts.commandTimeoutMs !== undefined) {
      expire(c.commandQueue, stamped, now, opts.commandTimeoutMs);
      expire(c.offlineQueue, stamped, now, opts.commandTimeoutMs);
      expire(c.prevCommandQueue, stamped, now, opts.commandTimeoutMs);
    }
    const front = c.commandQueue.peekFront()?.command;
    if (front !== head) {
      head = front;
      headSince = now;
    } else if (front !== undefined && now - headSince >= opts.socketTimeoutMs + ownWaitMs(front) && c.stream && !c.stream.destroyed) {
      head = undefined;
      c.stream.destroy(new Error(`Socket timeout. Expecting data, but didn't receive any in ${opts.socketTimeoutMs}ms.`));
    }
  };
  guards.set(conn, runWhileOpen(conn, guardTickMs(opts), tick, () => (head = undefined)));
  return true;
}

/**
 * A Cluster's own offline queue (commands waiting while it has no slot map,
 * e.g. all nodes down): the same command timeout. Commands sent to a node are
 * guarded by that node's connection (ioredis' own timers: the Cluster builds
 * those connections itself).
 */
export function guardClusterQueue(cluster: Cluster, commandTimeoutMs: number): boolean {
  if (guards.has(cluster)) return true;
  const q = (cluster as unknown as { offlineQueue?: unknown }).offlineQueue;
  if (!isDeque(q)) return false;
  const stamped = new WeakMap<object, number>();
  const tick = () => expire(q, stamped, performance.now(), commandTimeoutMs);
  guards.set(cluster, runWhileOpen(cluster, guardTickMs({ commandTimeoutMs, socketTimeoutMs: Infinity }), tick));
  return true;
}

/** Stops a connection's guard (closeRedis). */
export function unguardConnection(conn: Redis | Cluster): void {
  guards.get(conn)?.stop();
}
