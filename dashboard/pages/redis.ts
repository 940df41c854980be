/**
 * GET /redis — the Redis behind the queues: role, version, memory against
 * maxmemory and the policy, persistence, clients, replicas with their lag,
 * the Sentinels' view (with a Sentinel URL), and failovers seen.
 */
import { Router, type Request, type Response } from 'express';
import { redisOverview, type RedisNodeView, type RedisOverview } from '../../shared/redis/redis-info.ts';
import type { RedisTarget } from '../../shared/config/redis-url.ts';
import { viewerOf, type BoardContext } from '../context.ts';
import { badge, bytes, duration, esc, meter, num, time } from './format.ts';
import { empty, heading, page } from './layout.ts';

function tile(label: string, value: string, hint = '', tone = ''): string {
  return `<div class="tile ${tone}"><div class="label">${esc(label)}</div><div class="value small">${value}</div>${hint ? `<div class="hint">${hint}</div>` : ''}</div>`;
}

function nodeCards(n: RedisNodeView, many: boolean): string {
  const mem = n.maxMemoryBytes
    ? `${bytes(n.usedMemoryBytes)} <span class="faint">/ ${bytes(n.maxMemoryBytes)}</span> ${meter((n.usedMemoryBytes ?? 0) / n.maxMemoryBytes, 'memory used of maxmemory')}`
    : `${bytes(n.usedMemoryBytes)} <span class="faint">/ no limit</span>`;
  const policyOk = n.maxmemoryPolicy === 'noeviction';
  const tiles = [
    tile('Role', n.role === 'slave' ? 'replica' : esc(n.role), n.mode ? `${esc(n.mode)} mode` : ''),
    tile('Version', esc(n.version ?? '—'), n.uptimeSeconds !== undefined ? `up ${esc(duration(n.uptimeSeconds * 1000))}` : ''),
    tile('Memory', mem, n.usedMemoryPeakBytes ? `peak ${bytes(n.usedMemoryPeakBytes)}` : ''),
    tile('Eviction policy', `${esc(n.maxmemoryPolicy ?? '—')} ${policyOk ? badge('safe', 'good') : badge('loses jobs', 'bad')}`, policyOk ? 'jobs are never evicted' : 'set maxmemory-policy noeviction', policyOk ? '' : 'bad'),
    tile('Clients', num(n.clients.connected), `${num(n.clients.blocked)} blocked (workers waiting for jobs)`),
    tile('Ops / s', num(n.stats.opsPerSec), `${num(n.stats.keys)} keys`),
  ].join('');
  const p = n.persistence;
  const aof = n.aofEnabled === undefined ? '—' : n.aofEnabled ? `${badge('on', 'good')} last write ${esc(p.aofLastWriteStatus ?? '—')}` : badge('off', 'warn');
  const rdb = p.saveConfig === undefined ? 'unknown (CONFIG not allowed)' : p.saveConfig === '' ? badge('off', 'warn') : `<code>save ${esc(p.saveConfig)}</code>`;
  const persistence = `<div class="card"><h2>Persistence</h2><dl class="facts">
<dt>AOF</dt><dd>${aof}</dd><dt>RDB snapshots</dt><dd>${rdb}</dd>
<dt>Last RDB save</dt><dd>${p.rdbLastSaveAt ? time(p.rdbLastSaveAt * 1000) : '—'} ${p.rdbLastStatus && p.rdbLastStatus !== 'ok' ? badge(p.rdbLastStatus, 'bad') : ''}</dd>
<dt>Changes since</dt><dd>${num(p.rdbChangesSinceSave)}</dd>
${p.loading ? `<dt>Loading</dt><dd>${badge('loading data', 'warn')}</dd>` : ''}</dl></div>`;
  const replicas = n.replicas.length === 0
    ? `<p class="muted">${n.primary ? '' : 'No replica is attached. With replicas (and Sentinel or a managed service), Redis can fail over when the primary dies; <code>ENQUEUE_MIN_REPLICAS</code> then makes enqueues durable.'}</p>`
    : `<div class="table-wrap"><table><thead><tr><th>Replica</th><th>State</th><th class="num">Offset</th><th class="num">Behind</th><th class="num">Last ack</th></tr></thead><tbody>${n.replicas
        .map((r) => `<tr><td class="mono">${esc(r.address)}</td><td>${badge(r.state, r.state === 'online' ? 'good' : 'warn')}</td><td class="num">${num(r.offset)}</td><td class="num">${r.behindBytes === undefined ? '—' : bytes(r.behindBytes)}</td><td class="num">${r.lagSeconds === undefined ? '—' : `${num(r.lagSeconds)} s ago`}</td></tr>`)
        .join('')}</tbody></table></div>`;
  const follows = n.primary ? `<p>Follows <span class="mono">${esc(n.primary.address)}</span> ${n.primary.linkUp ? badge('link up', 'good') : badge('link down', 'bad')}${n.primary.syncInProgress ? ` ${badge('syncing', 'warn')}` : ''}</p>` : '';
  return `${many ? `<h2 class="mono">${esc(n.node)}</h2>` : ''}<div class="tiles">${tiles}</div>
<div class="grid">${persistence}<div class="card"><h2>Replication</h2>${follows}${replicas}<p class="faint">Offset ${num(n.replicationOffset)}</p></div></div>`;
}

function sentinelCard(o: RedisOverview, target: RedisTarget | undefined): string {
  if (!o.sentinel) {
    return `<div class="card"><h2>Sentinel</h2><p class="muted">Not in use: <code>REDIS_URL</code> names one endpoint${target?.kind === 'cluster' ? ' (a Cluster)' : ''}. With <code>redis-sentinel://host:26379,host2:26379#mymaster</code> this shows the primary the Sentinels name, their quorum and each Sentinel.</p></div>`;
  }
  if (!o.sentinel.view) return `<div class="card"><h2>Sentinel</h2><p class="bad-text">${esc(o.sentinel.error ?? 'no answer')}</p></div>`;
  const v = o.sentinel.view;
  return `<div class="card"><h2>Sentinel · ${esc(v.masterName)}</h2><dl class="facts">
<dt>Primary</dt><dd class="mono">${esc(v.primary ?? '—')} ${v.agreed ? badge('all agree', 'good') : badge('disagree', 'bad')}</dd>
<dt>Flags</dt><dd>${esc(v.primaryFlags ?? '—')}</dd><dt>Quorum</dt><dd>${num(v.quorum)} · ${esc(v.ckquorum ?? '')}</dd></dl>
<div class="table-wrap"><table><thead><tr><th>Sentinel</th><th>Answers</th><th>Names as primary</th></tr></thead><tbody>${v.sentinels
    .map((s) => `<tr><td class="mono">${esc(s.address)}</td><td>${s.answering ? badge('yes', 'good') : badge('no', 'bad')}</td><td class="mono">${esc(s.primary ?? s.error ?? '—')}</td></tr>`)
    .join('')}</tbody></table></div></div>`;
}

function failoversCard(o: RedisOverview): string {
  const body = o.failovers.length === 0
    ? '<p class="muted">No failover seen by Conveyor\'s processes. When one happens, the processes that notice the new primary record it here.</p>'
    : `<div class="table-wrap"><table><thead><tr><th>When</th><th>From</th><th>To</th><th>How</th><th>Seen by</th></tr></thead><tbody>${o.failovers
        .map((f) => `<tr><td class="nowrap">${time(f.at)}</td><td class="mono">${esc(f.from)}</td><td class="mono">${esc(f.to)}</td><td>${esc(f.kind)}</td><td class="mono">${esc(f.seenBy)}</td></tr>`)
        .join('')}</tbody></table></div>`;
  return `<div class="card"><h2>Failovers</h2>${body}</div>`;
}

export function redisRoutes(ctx: BoardContext): Router {
  const router = Router();
  router.get('/redis', async (_req: Request, res: Response) => {
    const viewer = viewerOf(ctx, res);
    const { queues, redisTarget, redisTlsCa } = ctx.data;
    const target: RedisTarget = redisTarget ?? { kind: 'standalone', redacted: 'redis' } as RedisTarget;
    const o = await redisOverview(queues.connection, target, { tlsCa: redisTlsCa });
    const warnings = o.warnings.length ? `<div class="alerts">${o.warnings.map((w) => `<div class="alert ${w.level}"><div>${esc(w.text)}</div></div>`).join('')}</div>` : '';
    const nodes = o.nodes.length === 0 ? empty('No node answered', '') : o.nodes.map((n) => nodeCards(n, o.nodes.length > 1)).join('');
    res.type('html').send(
      page(
        { base: viewer.base, title: 'Redis', current: '/redis', viewer },
        `${heading('Redis', `<span class="mono">${esc(o.endpoint)}</span> · ${esc(o.kind)}`)}${warnings}<div id="redis" data-live="10">${nodes}</div><div class="grid">${sentinelCard(o, redisTarget)}${failoversCard(o)}</div>`,
      ),
    );
  });
  return router;
}
