/**
 * Everything the board's Redis page shows, read-only: for each node (the
 * primary behind the connection, or every node of a Cluster) its role,
 * version, memory against maxmemory and the eviction policy, persistence,
 * clients, throughput and replicas with their lag (one INFO per node); the
 * Sentinels' view when REDIS_URL names Sentinels; the failovers Conveyor's
 * processes have seen; and the warnings an operator should act on.
 */
import { Cluster, type Redis } from 'ioredis';
import type { RedisTarget } from '../config/redis-url.ts';
import { parseInfo } from '../metrics/redis-gauges.ts';
import type { RedisConnection } from './connections.ts';
import { nodeReplicationFromInfo, type NodeReplication } from './replication-info.ts';
import { sentinelView, type SentinelViewResult } from './sentinel-admin.ts';
import { recentFailovers, type FailoverEntry } from './failover-log.ts';

export interface RedisNodeView extends NodeReplication {
  mode: string | undefined;
  usedMemoryPeakBytes: number | undefined;
  fragmentationRatio: number | undefined;
  clients: { connected: number | undefined; blocked: number | undefined; maxclients: number | undefined };
  persistence: {
    rdbLastSaveAt: number | undefined;
    rdbChangesSinceSave: number | undefined;
    rdbLastStatus: string | undefined;
    aofLastWriteStatus: string | undefined;
    aofRewriteInProgress: boolean;
    loading: boolean;
    /** CONFIG GET save ("" = no RDB snapshots); undefined when CONFIG is not allowed (managed services). */
    saveConfig: string | undefined;
  };
  stats: { opsPerSec: number | undefined; evictedKeys: number | undefined; rejectedConnections: number | undefined; keys: number | undefined };
}

export interface RedisOverview {
  /** REDIS_URL, redacted. */
  endpoint: string;
  kind: RedisTarget['kind'];
  nodes: RedisNodeView[];
  /** Only with a Sentinel URL: what they see, or why they could not be asked. */
  sentinel?: { view?: SentinelViewResult; error?: string };
  failovers: FailoverEntry[];
  warnings: RedisWarning[];
}

/** bad: jobs can be lost; warn: worth a look. */
export interface RedisWarning {
  level: 'bad' | 'warn';
  text: string;
}

const num = (v: string | undefined): number | undefined => {
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
};

export function nodeViewFromInfo(node: string, info: Map<string, string>): RedisNodeView {
  let keys: number | undefined;
  for (const [k, v] of info) {
    const m = /^db\d+$/.test(k) ? /keys=(\d+)/.exec(v) : null;
    if (m) keys = (keys ?? 0) + Number(m[1]);
  }
  return {
    ...nodeReplicationFromInfo(node, info),
    mode: info.get('redis_mode'),
    usedMemoryPeakBytes: num(info.get('used_memory_peak')),
    fragmentationRatio: num(info.get('mem_fragmentation_ratio')),
    clients: { connected: num(info.get('connected_clients')), blocked: num(info.get('blocked_clients')), maxclients: num(info.get('maxclients')) },
    persistence: {
      rdbLastSaveAt: num(info.get('rdb_last_save_time')),
      rdbChangesSinceSave: num(info.get('rdb_changes_since_last_save')),
      rdbLastStatus: info.get('rdb_last_bgsave_status'),
      aofLastWriteStatus: info.get('aof_last_write_status'),
      aofRewriteInProgress: info.get('aof_rewrite_in_progress') === '1',
      loading: info.get('loading') === '1',
      saveConfig: undefined,
    },
    stats: { opsPerSec: num(info.get('instantaneous_ops_per_sec')), evictedKeys: num(info.get('evicted_keys')), rejectedConnections: num(info.get('rejected_connections')), keys },
  };
}

/** What an operator should act on, in plain words. */
export function redisWarnings(nodes: RedisNodeView[], sentinel?: RedisOverview['sentinel']): RedisWarning[] {
  const out: RedisWarning[] = [];
  const w = { push: (text: string, level: RedisWarning['level'] = 'warn') => out.push({ level, text }) };
  for (const n of nodes) {
    const where = nodes.length > 1 ? `${n.node}: ` : '';
    if (n.role === 'master' && n.maxmemoryPolicy && n.maxmemoryPolicy !== 'noeviction') {
      w.push(`${where}maxmemory-policy is ${n.maxmemoryPolicy}: when memory runs out Redis evicts keys, which silently loses jobs. Set it to noeviction.`, 'bad');
    }
    if (n.maxMemoryBytes && n.usedMemoryBytes !== undefined && n.usedMemoryBytes / n.maxMemoryBytes > 0.9) {
      w.push(`${where}memory is ${Math.round((100 * n.usedMemoryBytes) / n.maxMemoryBytes)}% of maxmemory: enqueues will fail with OOM when it is full.`, 'bad');
    }
    if (n.role === 'master' && n.aofEnabled === false && n.persistence.saveConfig === '') {
      w.push(`${where}persistence looks off: a restart loses every job.`);
    }
    if (n.persistence.aofLastWriteStatus && n.persistence.aofLastWriteStatus !== 'ok') w.push(`${where}the last AOF write failed (${n.persistence.aofLastWriteStatus}).`);
    if (n.persistence.rdbLastStatus && n.persistence.rdbLastStatus !== 'ok') w.push(`${where}the last RDB save failed (${n.persistence.rdbLastStatus}).`);
    for (const r of n.replicas) {
      if (r.state !== 'online') w.push(`${where}replica ${r.address} is ${r.state}.`);
      else if ((r.lagSeconds ?? 0) > 10) w.push(`${where}replica ${r.address} last acknowledged ${r.lagSeconds} s ago.`);
    }
    if (n.primary && !n.primary.linkUp) w.push(`${where}this replica's link to ${n.primary.address} is down.`);
  }
  if (sentinel?.error) w.push(`The Sentinels could not be asked: ${sentinel.error}`);
  if (sentinel?.view && !sentinel.view.agreed) w.push('The Sentinels do not agree on the primary (a failover may be running).');
  return out;
}

async function askNode(conn: Redis, node: string): Promise<RedisNodeView> {
  const text = String(await conn.call('INFO', 'server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'keyspace'));
  const view = nodeViewFromInfo(node, parseInfo(text));
  const save = (await conn.call('CONFIG', 'GET', 'save').catch(() => undefined)) as string[] | undefined;
  if (Array.isArray(save) && save.length === 2) view.persistence.saveConfig = String(save[1]);
  return view;
}

export async function redisOverview(conn: RedisConnection, target: RedisTarget, opts: { tlsCa?: string | undefined } = {}): Promise<RedisOverview> {
  let nodes: RedisNodeView[];
  if (conn instanceof Cluster) {
    nodes = await Promise.all(conn.nodes('all').map((n) => askNode(n, `${n.options.host}:${n.options.port}`)));
  } else {
    const stream = conn.stream as { remoteAddress?: string; remotePort?: number } | undefined;
    const node = stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : `${conn.options.host}:${conn.options.port}`;
    nodes = [await askNode(conn, node)];
  }
  let sentinel: RedisOverview['sentinel'];
  if (target.kind === 'sentinel') {
    sentinel = await sentinelView(target, { tlsCa: opts.tlsCa }).then(
      (view) => ({ view }),
      (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
    );
  }
  const failovers = await recentFailovers(conn, 20).catch(() => []);
  return { endpoint: target.redacted, kind: target.kind, nodes, sentinel, failovers, warnings: redisWarnings(nodes, sentinel) };
}
