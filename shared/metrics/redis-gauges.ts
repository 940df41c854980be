/**
 * Redis as Prometheus sees it, read on each scrape with one PING and one
 * INFO: up, round trip, role, eviction policy, memory, replicas and their
 * lag; and the process's reconnects and failovers seen, as the connection
 * code counts them.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RedisConnection } from '../redis/connections.ts';
import { failoverStats } from '../redis/failover-log.ts';

export interface RedisReading {
  up: boolean;
  roundTripSeconds: number | undefined;
  role: string | undefined;
  noeviction: boolean | undefined;
  usedMemory: number | undefined;
  maxMemory: number | undefined;
  connectedReplicas: number | undefined;
  /** Primary: the largest lag its replicas report; replica: seconds since the primary last talked. */
  replicaLagSeconds: number | undefined;
  runId: string | undefined;
}

const ROLES = ['master', 'slave'] as const;

/** INFO text → field map (sections merged). */
export function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

export function readingFromInfo(info: Map<string, string>, roundTripSeconds: number): RedisReading {
  const num = (k: string) => {
    const v = info.get(k);
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const role = info.get('role');
  let lag: number | undefined;
  if (role === 'master') {
    // slave0:ip=...,port=...,state=online,offset=...,lag=0
    for (const [k, v] of info) {
      if (!/^slave\d+$/.test(k)) continue;
      const l = Number(/(?:^|,)lag=(\d+)/.exec(v)?.[1]);
      if (Number.isFinite(l)) lag = Math.max(lag ?? 0, l);
    }
  } else if (role === 'slave') {
    lag = info.get('master_link_status') === 'up' ? num('master_last_io_seconds_ago') : undefined;
  }
  const policy = info.get('maxmemory_policy');
  return {
    up: true,
    roundTripSeconds,
    role,
    noeviction: policy === undefined ? undefined : policy === 'noeviction',
    usedMemory: num('used_memory'),
    maxMemory: num('maxmemory'),
    connectedReplicas: num('connected_slaves'),
    replicaLagSeconds: lag,
    runId: info.get('run_id'),
  };
}

const DOWN: RedisReading = {
  up: false, roundTripSeconds: undefined, role: undefined, noeviction: undefined, usedMemory: undefined,
  maxMemory: undefined, connectedReplicas: undefined, replicaLagSeconds: undefined, runId: undefined,
};

/** PING (timed) then INFO, bounded by timeoutMs; never throws. */
export async function readRedis(conn: RedisConnection, timeoutMs: number): Promise<RedisReading> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<RedisReading>((resolve) => (timer = setTimeout(() => resolve(DOWN), timeoutMs)));
  const ask = async (): Promise<RedisReading> => {
    const t0 = performance.now();
    await conn.ping();
    const rtt = (performance.now() - t0) / 1000;
    const text = String(await conn.call('INFO', 'server', 'memory', 'replication'));
    return readingFromInfo(parseInfo(text), rtt);
  };
  try {
    return await Promise.race([ask(), expired]);
  } catch {
    return DOWN;
  } finally {
    clearTimeout(timer);
  }
}

export class RedisMetrics {
  constructor(registry: Registry, reading: () => Promise<RedisReading>) {
    const registers = [registry];
    // Process-wide counts kept by the connection code (shared/redis/failover-log.ts).
    const fromStats = (name: string, help: string, value: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    fromStats('conveyor_redis_reconnects_total', 'Times a Redis connection of this process became ready again after its first time.', () => failoverStats.reconnects);
    fromStats('conveyor_redis_failovers_total', 'Primary changes this process saw (a connection came back on another primary; one per change and minute).', () => failoverStats.failoversSeen);
    fromStats('conveyor_redis_replica_reconnects_total', 'Connections this process dropped because they were talking to a replica (after a failover).', () => failoverStats.replicaReconnects);
    const gauge = (name: string, help: string, value: (r: RedisReading) => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        aggregator: 'max',
        async collect() {
          const v = value(await reading());
          this.reset();
          if (v !== undefined) this.set(v);
        },
      });
    new Gauge({
      name: 'conveyor_redis_up',
      help: '1 when Redis answered PING and INFO within the scrape\'s time limit, else 0.',
      registers,
      aggregator: 'min',
      async collect() {
        this.set((await reading()).up ? 1 : 0);
      },
    });
    gauge('conveyor_redis_roundtrip_seconds', 'Time Redis took to answer a PING during the scrape.', (r) => r.roundTripSeconds);
    new Gauge({
      name: 'conveyor_redis_role',
      help: 'The role of the Redis this process writes to: 1 on the series of the current role (master or slave).',
      labelNames: ['role'],
      registers,
      aggregator: 'max',
      async collect() {
        const r = await reading();
        this.reset();
        if (!r.up) return;
        for (const role of ROLES) this.set({ role }, r.role === role ? 1 : 0);
      },
    });
    gauge('conveyor_redis_noeviction', '1 when maxmemory-policy is noeviction (Redis never drops job keys), 0 otherwise.', (r) => (r.noeviction === undefined ? undefined : r.noeviction ? 1 : 0));
    gauge('conveyor_redis_memory_used_bytes', 'Redis used_memory.', (r) => r.usedMemory);
    gauge('conveyor_redis_maxmemory_bytes', 'Redis maxmemory (0 = no limit).', (r) => r.maxMemory);
    gauge('conveyor_redis_connected_replicas', 'Replicas connected to the primary.', (r) => r.connectedReplicas);
    gauge('conveyor_redis_replica_lag_seconds', 'On a primary, the largest lag its replicas report; on a replica, seconds since the primary last talked.', (r) => r.replicaLagSeconds);
  }
}
