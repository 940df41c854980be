/**
 * Keeps each connection on the primary, and notices when the primary changed.
 *
 * - Every time a connection becomes ready it asks INFO who it talks to
 *   (address and port, role). A ready connection that lands on another
 *   primary than the last one this process saw for the same target is a
 *   failover: counted and written to the failover log (failover-log.ts).
 * - Every few seconds it asks ROLE. A connection that finds itself on a
 *   replica drops its socket and reconnects: after a managed-endpoint
 *   failover an idle connection (a subscriber, a reader, a server nobody
 *   enqueues through) never gets the READONLY reply that would move it, and
 *   would read stale data from the demoted node, and /readyz would say 503
 *   for ever. The check also makes an idle connection notice a frozen primary
 *   (the socket timeout only runs while a command waits).
 *
 * Sentinel connections are checked too: ioredis asks the sentinels where the
 * primary is on each connect, but a connection that missed +switch-master
 * (its sentinel subscription was down) would stay on a demoted node.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { RedisTarget } from '../config/redis-url.ts';
import type { Logger } from '../log.ts';
import { failoverStats, recordFailover } from './failover-log.ts';

export interface WatchOptions {
  target: RedisTarget;
  /** connectionName, for seenBy. */
  name?: string | undefined;
  logger?: Logger | undefined;
  /** How often ROLE is asked (default 5 s). */
  intervalMs?: number | undefined;
}

export const ROLE_CHECK_MS = 5_000;

/** Per target (redacted URL): the primary this process saw last, "address:port". */
const lastPrimary = new Map<string, string>();
/** Connections their owner is closing (closeRedis): never revived. */
const closing = new WeakSet<Redis>();
const timers = new WeakMap<Redis, NodeJS.Timeout>();

/** Marks a connection as closed on purpose (called by closeRedis before it quits) and stops its checks. */
export function closingOnPurpose(conn: Redis): void {
  closing.add(conn);
  clearInterval(timers.get(conn));
}

/** The primary this process last saw for a target (tests, the board). */
export function knownPrimary(target: RedisTarget): string | undefined {
  return lastPrimary.get(target.redacted);
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export function watchPrimary(conn: Redis, opts: WatchOptions): void {
  const seenBy = `${opts.name ?? 'conveyor'}@${hostname()}:${process.pid}`;
  const kind = opts.target.kind === 'sentinel' ? 'sentinel' : 'endpoint';
  let readies = 0;
  let checking = false;
  let lastWarned = 0;

  const warn = (fields: Record<string, unknown>, msg: string) => {
    const now = Date.now();
    if (now - lastWarned < 5000) return;
    lastWarned = now;
    opts.logger?.warn({ redis: opts.target.redacted, connection: opts.name, ...fields }, msg);
  };

  // At most once a second: an endpoint that keeps leading to a replica (DNS
  // not moved yet, a reader endpoint by mistake) must not become a busy loop.
  let lastMoved = 0;
  const toReplica = (role: string) => {
    const now = Date.now();
    if (now - lastMoved < 1000) return;
    lastMoved = now;
    failoverStats.replicaReconnects++;
    warn({ role }, 'the Redis this connection talks to is not a writable primary (a failover?): reconnecting');
    conn.disconnect(true);
  };

  const identify = async () => {
    const info = String(await conn.info());
    const role = field(info, 'role');
    const port = field(info, 'tcp_port') ?? String(conn.stream?.remotePort ?? '?');
    const address = `${conn.stream?.remoteAddress ?? '?'}:${port}`;
    if (role && role !== 'master') {
      toReplica(role);
      return;
    }
    const previous = lastPrimary.get(opts.target.redacted);
    lastPrimary.set(opts.target.redacted, address);
    if (previous !== undefined && previous !== address) {
      opts.logger?.warn({ redis: opts.target.redacted, from: previous, to: address, kind }, 'the Redis primary changed');
      await recordFailover(conn, { at: Date.now(), from: previous, to: address, seenBy, kind });
    }
  };

  conn.on('ready', () => {
    if (readies++ > 0) failoverStats.reconnects++;
    identify().catch(() => {
      // INFO refused (ACL) or the connection dropped again: the next ready tries again.
    });
  });

  const timer = setInterval(() => {
    if (checking || conn.status !== 'ready') return;
    checking = true;
    (conn.call('ROLE') as Promise<unknown[]>)
      .then((reply) => {
        const role = String(reply?.[0]);
        if (role !== 'master' && conn.status === 'ready') toReplica(role);
      })
      .catch(() => {
        // timeouts and closed sockets are the connection's own business
      })
      .finally(() => (checking = false));
  }, opts.intervalMs ?? ROLE_CHECK_MS);
  timer.unref();
  timers.set(conn, timer);

  // ioredis can end a connection that nobody closed (a disconnect racing a
  // Sentinel lookup, see sentinel-events.ts): it then rejects every command
  // for good, and a worker whose connection it is fetches nothing again.
  // Such a connection is connected again. One its owner closed (closeRedis,
  // disconnect(), QUIT: ioredis' manuallyClosing) or that never was ready
  // (a failed start) stays closed.
  let manual = false;
  conn.on('close', () => (manual = Boolean((conn as unknown as { manuallyClosing?: boolean }).manuallyClosing)));
  conn.on('end', () => {
    if (manual || closing.has(conn) || readies === 0) {
      clearInterval(timer);
      return;
    }
    failoverStats.revived++;
    opts.logger?.warn({ redis: opts.target.redacted, connection: opts.name }, 'redis connection ended without being closed: connecting it again');
    setTimeout(() => {
      if (conn.status === 'end' && !closing.has(conn)) conn.connect().catch(() => {});
    }, 100);
  });
}
