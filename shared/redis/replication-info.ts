/**
 * What one Redis node says about itself and its replication (INFO server,
 * memory, persistence, replication): role, replicas with their lag, or the
 * primary a replica follows and whether its link is up. The CLI's
 * `redis info` prints it; on a Cluster, one report per node.
 */
import { Cluster, type Redis } from 'ioredis';
import { parseInfo } from '../metrics/redis-gauges.ts';
import type { RedisConnection } from './connections.ts';

export interface ReplicaStatus {
  address: string;
  state: string;
  /** Replication offset the replica acknowledged. */
  offset: number | undefined;
  /** Bytes of the primary's stream the replica has not acknowledged. */
  behindBytes: number | undefined;
  /** Seconds since the replica last acknowledged (INFO's lag). */
  lagSeconds: number | undefined;
}

export interface NodeReplication {
  /** host:port of the node that answered. */
  node: string;
  role: string;
  version: string | undefined;
  uptimeSeconds: number | undefined;
  usedMemoryBytes: number | undefined;
  maxMemoryBytes: number | undefined;
  maxmemoryPolicy: string | undefined;
  aofEnabled: boolean | undefined;
  /** Primary: its replicas. */
  replicas: ReplicaStatus[];
  /** Replica: the primary it follows and the state of the link. */
  primary?: { address: string; linkUp: boolean; lastIoSecondsAgo: number | undefined; syncInProgress: boolean };
  replicationOffset: number | undefined;
}

const num = (v: string | undefined): number | undefined => {
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/** INFO fields (parsed) → the replication report of one node. */
export function nodeReplicationFromInfo(node: string, info: Map<string, string>): NodeReplication {
  const offset = num(info.get('master_repl_offset'));
  const replicas: ReplicaStatus[] = [];
  for (const [k, v] of info) {
    if (!/^slave\d+$/.test(k)) continue;
    // slave0:ip=10.0.0.2,port=6379,state=online,offset=1234,lag=0
    const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]));
    const o = num(f.offset);
    replicas.push({ address: `${f.ip}:${f.port}`, state: f.state ?? 'unknown', offset: o, behindBytes: o !== undefined && offset !== undefined ? Math.max(0, offset - o) : undefined, lagSeconds: num(f.lag) });
  }
  const role = info.get('role') ?? 'unknown';
  const r: NodeReplication = {
    node,
    role,
    version: info.get('redis_version'),
    uptimeSeconds: num(info.get('uptime_in_seconds')),
    usedMemoryBytes: num(info.get('used_memory')),
    maxMemoryBytes: num(info.get('maxmemory')),
    maxmemoryPolicy: info.get('maxmemory_policy'),
    aofEnabled: info.has('aof_enabled') ? info.get('aof_enabled') === '1' : undefined,
    replicas,
    replicationOffset: offset,
  };
  if (role === 'slave') {
    r.primary = {
      address: `${info.get('master_host')}:${info.get('master_port')}`,
      linkUp: info.get('master_link_status') === 'up',
      lastIoSecondsAgo: num(info.get('master_last_io_seconds_ago')),
      syncInProgress: info.get('master_sync_in_progress') === '1',
    };
  }
  return r;
}

async function ask(conn: Redis, node: string): Promise<NodeReplication> {
  const text = String(await conn.call('INFO', 'server', 'memory', 'persistence', 'replication'));
  return nodeReplicationFromInfo(node, parseInfo(text));
}

/** The node behind a connection (the current primary for Sentinel), or every node of a Cluster. */
export async function replicationInfo(conn: RedisConnection): Promise<NodeReplication[]> {
  if (conn instanceof Cluster) {
    const nodes = conn.nodes('all');
    return Promise.all(nodes.map((n) => ask(n, `${n.options.host}:${n.options.port}`)));
  }
  const stream = conn.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  const node = stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : `${conn.options.host}:${conn.options.port}`;
  return [await ask(conn, node)];
}
