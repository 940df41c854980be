/**
 * Redis connections by role. The one home of ioredis construction.
 *
 * - producer: fails fast. A command that cannot reach a writable primary is
 *   rejected (REDIS_UNAVAILABLE) within redisCommandTimeoutMs, so the API can
 *   answer 503 instead of hanging.
 * - worker: waits out an outage (maxRetriesPerRequest: null, as BullMQ requires
 *   for workers) and reconnects by itself.
 *
 * Both reconnect on READONLY / LOADING replies: after a managed-endpoint
 * failover the old primary turns replica and answers READONLY until the
 * endpoint's DNS moves (DESIGN.md "Known traps").
 *
 * Whoever creates a connection closes it (closeRedis).
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/redis-url.ts';
import type { Logger } from '../log.ts';
import { sentinelOptions } from './sentinel-connector.ts';
import { closingOnPurpose, watchPrimary } from './primary-watch.ts';
import { followSentinel } from './sentinel-events.ts';
import { guardClusterQueue, guardConnection, unguardConnection, type GuardOptions } from './liveness.ts';

export type RedisRole = 'producer' | 'worker' | 'inspector' | 'subscriber';
export type RedisConnection = Redis | Cluster;

export interface ConnectionOptions {
  role: RedisRole;
  tlsCa?: string | undefined;
  /** Producer/inspector: how long a command may wait for Redis. */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Shown in CLIENT LIST (when the server allows it). */
  name?: string;
  /** How often the connection checks it still talks to a primary (primary-watch.ts; default 5 s). */
  roleCheckMs?: number;
}

// UNBLOCKED: Redis 7 ends a blocking command (BullMQ's BZPOPMIN) with it when
// its primary turns replica; the next one would get READONLY.
const RECONNECT_ON = /^(READONLY|LOADING|MASTERDOWN|UNBLOCKED)\b/;
/**
 * No reply byte for this long on a busy socket means the server is gone or
 * frozen. Workers block (BZPOPMIN up to 10 s on BullMQ's duplicate of this
 * connection), so theirs is longer than any block; a producer's is its
 * command timeout plus a second: the command has failed by then anyway.
 */
export const SOCKET_TIMEOUT_MS = 15_000;

/** The never-hang timeouts of a role (liveness.ts). */
function timeouts(opts: ConnectionOptions): GuardOptions {
  const waits = opts.role === 'worker' || opts.role === 'subscriber';
  if (waits) return { socketTimeoutMs: SOCKET_TIMEOUT_MS };
  const commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
  return { commandTimeoutMs, socketTimeoutMs: commandTimeoutMs + 1000 };
}

function baseOptions(target: RedisTarget, opts: ConnectionOptions): RedisOptions {
  const waits = opts.role === 'worker' || opts.role === 'subscriber';
  const tls = target.tls ? { ...(opts.tlsCa ? { ca: opts.tlsCa } : {}) } : undefined;
  return {
    username: target.username,
    password: target.password,
    db: target.kind === 'cluster' ? 0 : target.db,
    tls,
    connectionName: opts.name,
    connectTimeout: 10_000,
    // BullMQ workers need null (they block and must outlive an outage); producers
    // get a bounded number of resends so a request cannot hang.
    maxRetriesPerRequest: waits ? null : 2,
    enableReadyCheck: true,
    enableOfflineQueue: true,
    // Reconnect quickly at first, then every 2 s at most: a failover takes 1-10 s.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    // 2 = reconnect and resend the command that got the error.
    reconnectOnError: (err: Error) => (RECONNECT_ON.test(err.message) ? 2 : false),
    // A primary that stops answering but keeps its socket open must be noticed,
    // and a producer's command must fail within its timeout: liveness.ts
    // (guardConnection, below) on one timer per connection, not ioredis'
    // commandTimeout/socketTimeout, which arm timers per command. (An idle
    // connection is probed by primary-watch.ts.)
    keepAlive: 10_000,
    // Safety net for a blocking command that would otherwise wait forever.
    blockingTimeout: 10_000,
    lazyConnect: false,
  };
}

export function createRedis(target: RedisTarget, opts: ConnectionOptions): RedisConnection {
  const base = baseOptions(target, opts);
  const guard = timeouts(opts);
  let conn: RedisConnection;
  switch (target.kind) {
    case 'standalone':
      conn = new Redis({ ...base, host: target.host, port: target.port });
      break;
    case 'sentinel':
      conn = new Redis({
        ...base,
        sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: target.masterName,
        // URL credentials are the data nodes'; the Sentinels' are chosen in sentinel-connector.ts.
        ...sentinelOptions(target),
        enableTLSForSentinelMode: target.tls,
        sentinelTLS: base.tls,
        // Not ioredis' failoverDetector: it can end a connection for good (see
        // sentinel-events.ts); followSentinel() below does its job safely.
        failoverDetector: false,
      });
      break;
    case 'cluster':
      conn = new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        {
          // Cluster nodes are ioredis' own connections: they keep its per-command timers.
          redisOptions: { ...base, commandTimeout: guard.commandTimeoutMs, socketTimeout: guard.socketTimeoutMs },
          maxRedirections: 16,
          retryDelayOnFailover: 200,
          enableOfflineQueue: true,
          clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
          // Re-read the slot map every 5 s, not only when a MOVED reply says it
          // changed: an idle connection then sees a failover, and the replicas
          // (CLUSTER SLOTS lists a replica only once it has synced).
          slotsRefreshInterval: 5000,
          // TLS (ElastiCache in-transit encryption): connect to the host names
          // the cluster announces, not to addresses they resolve to, so the
          // certificate is checked against the name it was issued for.
          ...(target.tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
        },
      );
      break;
  }
  if (conn instanceof Cluster && guard.commandTimeoutMs !== undefined) guardClusterQueue(conn, guard.commandTimeoutMs);
  if (conn instanceof Redis) {
    guardConnection(conn, guard);
    watchPrimary(conn, { target, name: opts.name, logger: opts.logger, intervalMs: opts.roleCheckMs });
    // Every connection, and BullMQ's duplicates of it (its blocking connections),
    // is guarded and, on Sentinel, follows failovers.
    const events = target.kind === 'sentinel' ? { tlsCa: opts.tlsCa, logger: opts.logger } : undefined;
    if (events && target.kind === 'sentinel') followSentinel(conn, target, events);
    const duplicate = conn.duplicate.bind(conn);
    conn.duplicate = ((override?: Partial<RedisOptions>) => {
      const d = duplicate(override);
      guardConnection(d, guard);
      if (events && target.kind === 'sentinel') followSentinel(d, target, events);
      return d;
    }) as typeof conn.duplicate;
  }
  // An 'error' event with no listener crashes the process; log it, throttled,
  // and let ioredis reconnect.
  let lastLogged = 0;
  conn.on('error', (err: Error) => {
    const now = Date.now();
    if (now - lastLogged > 5000) {
      lastLogged = now;
      opts.logger?.warn({ err: err.message, redis: target.redacted, role: opts.role }, 'redis connection error');
    }
  });
  return conn;
}

/** Closes a connection we created; never throws, never hangs. */
export async function closeRedis(conn: RedisConnection | undefined): Promise<void> {
  if (!conn) return;
  if (conn instanceof Redis) closingOnPurpose(conn);
  unguardConnection(conn);
  if (conn.status === 'end') return;
  // Not connected (Redis down, wrong password): QUIT would only sit in the
  // offline queue until the timeout below.
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  try {
    await Promise.race([conn.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    // already closed
  }
  conn.disconnect();
}

// Readiness and error classification live in readiness.ts; re-exported for callers of this module.
export { toRedisError, waitUntilReady, STARTUP_TIMEOUT_MS } from './readiness.ts';
