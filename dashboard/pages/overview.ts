/**
 * GET / — totals, the last hour's throughput, alerts, and every queue with
 * its counts, oldest waiting job, workers and pause/resume.
 * POST /queue-actions/:queue/pause|resume.
 */
import { Router, type Request, type Response } from 'express';
import type { QueueSummary } from '../../shared/queue/inspector.ts';
import { bullName } from '../../shared/queue/names.ts';
import { oldestWaiting } from '../../shared/queue/oldest-waiting.ts';
import { replicationInfo } from '../../shared/redis/replication-info.ts';
import type { Throughput, WorkerBeat } from '../../shared/queue/fleet.ts';
import { audit, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { alertsHtml, computeAlerts, type QueueHealth } from '../alerts.ts';
import { throughputChart, sparkline } from './chart.ts';
import { badge, duration, esc, num, time } from './format.ts';
import { boardQueueHref, canWrite, csrfField, empty, heading, page, type Viewer } from './layout.ts';

const DEAD_WINDOW_MIN = 15;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export interface OverviewData {
  queues: QueueSummary[];
  oldest: Map<string, number | undefined>;
  workers: WorkerBeat[];
  throughput: Throughput;
  now: number;
}

function cell(n: number, cls = ''): string {
  return `<td class="num${n === 0 ? ' zero' : cls ? ` ${cls}` : ''}">${num(n)}</td>`;
}

function queueRow(q: QueueSummary, d: OverviewData, viewer: Viewer): string {
  const t = d.throughput.byQueue.get(q.name);
  const consumers = d.workers.filter((w) => w.state === 'running' && w.queues.includes(q.name)).length;
  const since = d.oldest.get(q.name);
  const hourP = t ? sum(t.processed) : 0;
  const hourF = t ? sum(t.failed) : 0;
  const action = q.paused ? 'resume' : 'pause';
  const b = esc(viewer.base);
  const actions = canWrite(viewer)
    ? `<form method="post" action="${b}/queue-actions/${encodeURIComponent(q.name)}/${action}" class="inline">${csrfField(viewer)}<button class="btn small${q.paused ? ' primary' : ''}" type="submit">${q.paused ? 'Resume' : 'Pause'}</button></form>`
    : '';
  return `<tr data-queue="${esc(q.name)}">
<td><a href="${esc(boardQueueHref(viewer.base, bullName(q.name)))}">${esc(q.name)}</a> ${q.paused ? badge('paused', 'warn') : ''}</td>
${cell(q.counts.waiting)}${cell(q.counts.active)}${cell(q.counts.delayed)}${cell(q.counts.failed, 'bad-text')}
<td class="num${q.counts.dead === 0 ? ' zero' : ''}">${q.counts.dead > 0 ? `<a class="bad-text" href="${b}/dead?queue=${encodeURIComponent(q.name)}">${num(q.counts.dead)}</a>` : '0'}</td>
<td class="num">${since === undefined ? '<span class="faint">—</span>' : `<span title="oldest waiting job ready since ${esc(new Date(since).toISOString())}">${esc(duration(d.now - since))}</span>`}</td>
<td class="num hide-phone">${t ? sparkline(t.processed, t.failed) : ''} <span class="secondary">${num(hourP)} ok${hourF ? ` · <span class="bad-text">${num(hourF)} failed</span>` : ''}</span></td>
<td class="num">${consumers === 0 ? `<span class="${q.counts.waiting > 0 && !q.paused ? 'bad-text' : 'faint'}">0</span>` : num(consumers)}</td>
<td class="actions-cell"><div class="row-actions">${actions}</div></td>
</tr>`;
}

export function overviewBody(d: OverviewData, viewer: Viewer, alerts: string): string {
  const total = (k: keyof QueueSummary['counts']) => sum(d.queues.map((q) => q.counts[k]));
  const last5 = (xs: number[]) => sum(xs.slice(-6, -1)) / 5; // the five whole minutes before this one
  const hourP = sum(d.throughput.processed);
  const hourF = sum(d.throughput.failed);
  const live = d.workers.length;
  const tiles = [
    ['Waiting', num(total('waiting')), ''],
    ['Active', num(total('active')), ''],
    ['Delayed', num(total('delayed')), ''],
    ['Failed', num(total('failed')), total('failed') > 0 ? 'warn' : ''],
    ['Dead letters', num(total('dead')), total('dead') > 0 ? 'bad' : ''],
    ['Jobs / min', num(Math.round(last5(d.throughput.processed) * 10) / 10), '', 'average of the last 5 minutes'],
    ['Workers', num(live), live === 0 ? 'warn' : '', `${num(sum(d.workers.map((w) => w.busy)))} busy of ${num(sum(d.workers.map((w) => w.concurrency)))} slots`],
  ]
    .map(([label, value, tone, hint]) => `<div class="tile ${tone}" data-tile="${esc(label)}"><div class="label">${esc(label)}</div><div class="value">${value}</div>${hint ? `<div class="hint">${esc(hint)}</div>` : ''}</div>`)
    .join('');
  const table = d.queues.length === 0
    ? empty('No queues yet', 'A queue appears here once a job is enqueued to it (<code>POST /v1/queues/NAME/jobs</code>) or a worker consumes it (<code>QUEUES=NAME npm run worker</code>).')
    : `<div class="table-wrap"><table class="queues">
<thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">Active</th><th class="num">Delayed</th><th class="num">Failed</th><th class="num">Dead</th><th class="num" title="How long the oldest waiting job has waited">Oldest</th><th class="num hide-phone">Last hour</th><th class="num">Workers</th><th></th></tr></thead>
<tbody>
${d.queues.map((q) => queueRow(q, d, viewer)).join('\n')}
</tbody></table></div>`;
  return `${alerts}
<div class="tiles">${tiles}</div>
<div class="card flush">
  <div class="card-head"><h2>Jobs per minute, last hour</h2><div class="legend"><span><i class="p"></i>processed ${num(hourP)}</span><span><i class="f"></i>failed ${num(hourF)}</span></div></div>
  <div class="chart-wrap">${hourP + hourF === 0 ? '<p class="muted">No job finished in the last hour. Workers report what they ran with each heartbeat, so this fills in as soon as one runs jobs.</p>' : ''}
  ${throughputChart(d.throughput.minutes, d.throughput.processed, d.throughput.failed)}</div>
</div>
<div class="card flush">
  <div class="card-head"><h2>Queues</h2><span class="muted">${num(d.queues.length)} queue${d.queues.length === 1 ? '' : 's'} · a name opens its jobs on the queue board</span></div>
  ${table}
</div>`;
}

export function overviewRoutes(ctx: BoardContext): Router {
  const router = Router();
  const { data } = ctx;

  router.get('/', async (req: Request, res: Response) => {
    const now = Date.now();
    const [queues, workers, throughput, nodes] = await Promise.all([
      data.inspector.listQueues(),
      data.fleet.list(),
      data.fleet.throughput(60, now),
      replicationInfo(data.queues.connection).catch(() => []),
    ]);
    const oldest = new Map(await Promise.all(queues.map(async (q) => [q.name, (await oldestWaiting(data.queues, q.name))?.since] as const)));
    const d: OverviewData = { queues, oldest, workers, throughput, now };
    const health: QueueHealth[] = queues.map((q) => ({
      name: q.name,
      paused: q.paused,
      waiting: q.counts.waiting,
      dead: q.counts.dead,
      oldestSince: oldest.get(q.name),
      consumers: workers.filter((w) => w.state === 'running' && w.queues.includes(q.name)).length,
      recentDead: sum(throughput.byQueue.get(q.name)?.dead.slice(-DEAD_WINDOW_MIN) ?? []),
    }));
    const viewer = viewerOf(ctx, res);
    const alerts = computeAlerts({
      queues: health,
      evictionPolicies: nodes.filter((n) => n.role === 'master').map((n) => n.maxmemoryPolicy),
      waitingThresholdMs: ctx.alertWaitingMs,
      deadWindowMin: DEAD_WINDOW_MIN,
      now,
      base: viewer.base,
    });
    const live = '<button type="button" class="btn subtle small live" data-live-toggle><span class="dot"></span><span data-live-label>Live</span></button>';
    res.type('html').send(
      page(
        { base: viewer.base, title: 'Overview', current: '/', viewer, flash: takeFlash(req, res) },
        `${heading('Overview', `Every queue at a glance · as of ${time(now, now)}`, live)}<div id="overview" data-live="5">${overviewBody(d, viewer, alertsHtml(alerts))}</div>`,
      ),
    );
  });

  router.post('/queue-actions/:queue/:action', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    const action = String(req.params.action);
    if (action !== 'pause' && action !== 'resume') {
      res.status(404).type('text').send('no such action');
      return;
    }
    if (action === 'pause') await data.inspector.pause(queue);
    else await data.inspector.resume(queue);
    await audit(ctx, req, res, { action: `queue.${action}`, queue, outcome: 'ok' });
    setFlash(req, res, action === 'pause' ? `Paused "${queue}": workers take no new jobs from it until you resume it.` : `Resumed "${queue}".`);
    res.redirect(303, `${baseOf(res)}/`);
  });

  return router;
}
