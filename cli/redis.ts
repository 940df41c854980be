/**
 * `conveyor redis info`: what the configured Redis says about itself (role,
 * replicas and their lag, or the primary a replica follows; every node of a
 * Cluster) and, for a Sentinel URL, what the Sentinels say.
 */
import { replicationInfo, type NodeReplication } from '#shared/redis/replication-info.ts';
import type { CommandSpec } from './command.ts';
import { table } from './output.ts';

function describeNode(n: NodeReplication): string {
  const head = `${n.node}  role=${n.role === 'slave' ? 'replica' : n.role}  redis ${n.version ?? '?'}  up ${n.uptimeSeconds ?? '?'}s  memory ${n.usedMemoryBytes ?? '?'}/${n.maxMemoryBytes || 'unlimited'} bytes  policy ${n.maxmemoryPolicy ?? '?'}  aof ${n.aofEnabled === undefined ? '?' : n.aofEnabled ? 'on' : 'off'}`;
  const lines = [head];
  if (n.primary) lines.push(`  follows ${n.primary.address}: link ${n.primary.linkUp ? 'up' : 'DOWN'}, last contact ${n.primary.lastIoSecondsAgo ?? '?'}s ago${n.primary.syncInProgress ? ', sync in progress' : ''}`);
  if (n.role === 'master') {
    lines.push(
      n.replicas.length === 0
        ? '  no replicas'
        : table(['  REPLICA', 'STATE', 'LAG', 'BEHIND'], n.replicas.map((r) => [`  ${r.address}`, r.state, r.lagSeconds === undefined ? '?' : `${r.lagSeconds}s`, r.behindBytes === undefined ? '?' : `${r.behindBytes} bytes`])),
    );
  }
  if (n.maxmemoryPolicy && n.maxmemoryPolicy !== 'noeviction') lines.push(`  WARNING: maxmemory-policy is ${n.maxmemoryPolicy}; queues need noeviction (Redis may evict jobs)`);
  return lines.join('\n');
}

export const redisCommands: CommandSpec[] = [
  {
    path: ['redis', 'info'],
    summary: 'role, replicas and their lag, the primary a replica follows, Sentinel view',
    details: 'JSON: {"redis": URL (redacted), "kind", "nodes": [...]}.',
    async run(ctx) {
      const { conn } = await ctx.open();
      const nodes = await replicationInfo(conn);
      const { redis } = ctx.config;
      ctx.out.result({ redis: redis.redacted, kind: redis.kind, nodes }, () => [`${redis.redacted} (${redis.kind})`, ...nodes.map(describeNode)].join('\n'));
    },
  },
];
