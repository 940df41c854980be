/**
 * `conveyor redis info`: shared/redis/redis-info.ts's overview (the board's
 * Redis page): each node's role, memory, persistence and replicas with their
 * lag, the Sentinels' view for a Sentinel URL, recent failovers, warnings.
 * `conveyor redis failover --yes`: shared/redis/sentinel-admin.ts's
 * triggerFailover, timed until the Sentinels agree on the new primary.
 */
import type { RedisOverview } from '../shared/redis/redis-info.ts';
import type { NodeReplication } from '../shared/redis/replication-info.ts';
import { intOption, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
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
  return lines.join('\n');
}

function describe(o: RedisOverview): string {
  const lines = [`${o.endpoint} (${o.kind})`, ...o.nodes.map(describeNode)];
  const s = o.sentinel;
  if (s?.view) {
    const v = s.view;
    lines.push(
      '',
      `Sentinels for ${v.masterName}: primary ${v.primary ?? '?'} (${v.agreed ? 'all agree' : 'THEY DISAGREE'}), quorum ${v.quorum ?? '?'}, flags ${v.primaryFlags ?? '?'}, ckquorum: ${v.ckquorum ?? '?'}`,
      table(['  SENTINEL', 'ANSWERING', 'NAMES PRIMARY'], v.sentinels.map((x) => [`  ${x.address}`, x.answering ? 'yes' : `no${x.error ? ` (${x.error})` : ''}`, x.primary])),
      table(['  REPLICA (SENTINEL VIEW)', 'FLAGS', 'LINK', 'OFFSET'], v.replicas.map((r) => [`  ${r.address}`, r.flags, r.linkUp ? 'up' : 'down', r.offset])),
    );
  } else if (s?.error) lines.push('', `Sentinels: could not be asked (${s.error})`);
  if (o.failovers.length > 0) {
    lines.push('', 'Recent failovers:', table(['  AT', 'FROM', 'TO', 'SEEN BY'], o.failovers.map((f) => [`  ${new Date(f.at).toISOString()}`, f.from, f.to, f.seenBy])));
  }
  if (o.warnings.length > 0) lines.push('', ...o.warnings.map((w) => `${w.level === 'bad' ? 'PROBLEM' : 'warning'}: ${w.text}`));
  return lines.join('\n');
}

export const redisCommands: CommandSpec[] = [
  {
    path: ['redis', 'info'],
    summary: 'role, replicas and their lag, the primary a replica follows, Sentinel view, failovers, warnings',
    details: 'On a Cluster, every node. JSON: {"endpoint", "kind", "nodes": [...], "sentinel"?, "failovers", "warnings"}.',
    async run(ctx) {
      const { conn } = await ctx.open();
      const { redisOverview } = await import('../shared/redis/redis-info.ts');
      const overview = await redisOverview(conn, ctx.config.redis, { tlsCa: ctx.config.redisTlsCa });
      ctx.out.result(overview, () => describe(overview));
    },
  },
  {
    path: ['redis', 'failover'],
    summary: 'ask the Sentinels to promote a replica now (Sentinel URLs only)',
    details: [
      'Sends SENTINEL FAILOVER and waits until every answering Sentinel names the new primary and',
      'it answers as a primary. Writes pause for about a second; Conveyor processes follow by',
      'themselves. A managed service fails over through its provider instead. Needs --yes.',
    ].join('\n'),
    options: {
      yes: { type: 'boolean', help: 'yes, fail over now' },
      timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait for the new primary (default 30)' },
    },
    async run(ctx, { opts }) {
      if (opts.yes !== true) throw new UsageError('a failover interrupts writes for a moment: add --yes to go ahead');
      const timeoutMs = intOption(opts, 'timeout', 30, 1, 600) * 1000;
      if (ctx.config.redis.kind === 'sentinel') ctx.out.progress(`asking the Sentinels of ${ctx.config.redis.redacted} to fail over...`, { final: true });
      const { triggerFailover } = await import('../shared/redis/sentinel-admin.ts');
      const r = await triggerFailover(ctx.config.redis, { tlsCa: ctx.config.redisTlsCa, timeoutMs });
      ctx.out.result(r, `failed over ${r.masterName}: ${r.from} -> ${r.to} in ${r.ms} ms`);
    },
  },
];
