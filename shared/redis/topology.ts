/**
 * Topology inspection: is the Redis we talk to a writable primary? Readiness
 * probes ask this, so a load balancer stops sending producers to a process
 * whose endpoint points at a replica (after a managed-endpoint failover the
 * old primary turns replica and answers READONLY until DNS moves).
 */
import { Cluster } from 'ioredis';
import type { RedisConnection } from './connections.ts';
import { failoverUnderWay } from './sentinel-events.ts';

export interface PrimaryStatus {
  /** True when a writable primary answered (or, on Cluster, the cluster is healthy). */
  ok: boolean;
  /** What ROLE answered ("master", "slave", "sentinel"), "cluster", or null when nothing answered. */
  role: string | null;
  /** Why it is not ok, or null. */
  error: string | null;
}

/** Asks ROLE (CLUSTER INFO on a cluster); never throws, never waits longer than timeoutMs. */
export async function primaryStatus(conn: RedisConnection, timeoutMs = 2000): Promise<PrimaryStatus> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<PrimaryStatus>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, role: null, error: `Redis did not answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([ask(conn), expired]);
  } catch (err) {
    return { ok: false, role: null, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function ask(conn: RedisConnection): Promise<PrimaryStatus> {
  if (conn instanceof Cluster) {
    // ROLE on a cluster goes to one random node; the cluster's own view is what matters.
    const info = String(await conn.cluster('INFO'));
    const ok = /cluster_state:ok/.test(info);
    return { ok, role: 'cluster', error: ok ? null : 'the cluster reports cluster_state:fail' };
  }
  const reply = (await conn.call('ROLE')) as unknown[];
  const role = String(reply[0]);
  // The old primary still says "master" while the sentinels replace it; enqueues wait meanwhile.
  if (role === 'master' && failoverUnderWay(conn)) return { ok: false, role, error: 'a Sentinel failover is under way' };
  if (role === 'master') return { ok: true, role, error: null };
  return { ok: false, role, error: `Redis answers as a ${role === 'slave' ? 'replica' : role}, not a writable primary` };
}
