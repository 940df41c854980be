/**
 * GET /workers — the fleet from the heartbeats; POST /workers/quiet and
 * /workers/stop (one worker by `id`, or `id=all`), delivered through Redis.
 */
import { Router, type Request, type Response } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import type { WorkerBeat, WorkerCommandName } from '../../shared/queue/fleet.ts';
import { bullName } from '../../shared/queue/names.ts';
import { audit, field, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { badge, bytes, esc, meter, num, time } from './format.ts';
import { boardQueueHref, canWrite, csrfField, empty, heading, page, type Viewer } from './layout.ts';

const STATE_TONE = { running: 'good', quiet: 'warn', stopping: 'bad' } as const;

function actionForm(viewer: Viewer, command: WorkerCommandName, id: string, label: string, confirm: string, cls = ''): string {
  return `<form method="post" action="${esc(viewer.base)}/workers/${command}" class="inline" data-confirm="${esc(confirm)}">${csrfField(viewer)}<input type="hidden" name="id" value="${esc(id)}"><button type="submit" class="btn small ${cls}">${esc(label)}</button></form>`;
}

function row(w: WorkerBeat, viewer: Viewer, now: number): string {
  const lagTone = w.lagMaxMs > 500 ? 'bad-text' : w.lagMaxMs > 100 ? 'warn-text' : '';
  const actions = canWrite(viewer) && w.state !== 'stopping'
    ? `${w.state === 'running' ? actionForm(viewer, 'quiet', w.id, 'Quiet', `Quiet ${w.host}:${w.pid}? It finishes its running jobs and takes no new ones.`) : ''}${actionForm(viewer, 'stop', w.id, 'Stop', `Stop ${w.host}:${w.pid}? It finishes its running jobs (within its grace period) and exits.`, 'danger')}`
    : '';
  return `<tr data-worker="${esc(w.id)}">
<td><span class="mono">${esc(w.host)}:${esc(w.pid)}</span>${w.supervisor ? `<span class="secondary" title="its slot under the supervisor">process ${esc(w.supervisor.slot)} of ${esc(w.supervisor.processes)}</span>` : ''}<span class="secondary mono" title="worker id">${esc(w.id)}</span></td>
<td>${badge(w.state, STATE_TONE[w.state])}</td>
<td>${w.queues.map((q) => `<a href="${esc(boardQueueHref(viewer.base, bullName(q)))}">${esc(q)}</a>`).join(', ')}</td>
<td class="num">${num(w.busy)} / ${num(w.concurrency)} ${meter(w.concurrency > 0 ? w.busy / w.concurrency : 0, `${w.busy} of ${w.concurrency} slots busy`)}</td>
<td class="num">${num(w.processed)}</td>
<td class="num${w.failed > 0 ? ' bad-text' : ' zero'}">${num(w.failed)}</td>
<td class="num">${bytes(w.rssBytes)}</td>
<td class="num ${lagTone}" title="event-loop delay over the last beat: mean / max">${num(w.lagMs)} / ${num(w.lagMaxMs)} ms</td>
<td class="num">${w.rttMs === null ? '<span class="faint">—</span>' : `${num(w.rttMs)} ms`}</td>
<td class="nowrap">${time(w.startedAt, now)}</td>
<td class="nowrap">${time(w.beatAt, now)}</td>
<td class="actions-cell"><div class="row-actions">${actions}</div></td>
</tr>`;
}

const CAUSE_LABEL = { crash: 'crash', memory: 'memory cap', rolling: 'rolling restart' } as const;

/** The header row of a group: a host's unsupervised workers, or one supervisor's children with its restarts. */
function groupRow(host: string, sup: WorkerBeat['supervisor'], members: number, now: number): string {
  if (!sup) return `<tr class="group" data-host="${esc(host)}"><th colspan="12"><span class="mono">${esc(host)}</span> <span class="faint">· ${num(members)} process${members === 1 ? '' : 'es'}</span></th></tr>`;
  const total = sup.restarts.crash + sup.restarts.memory + sup.restarts.rolling;
  const byCause = (Object.keys(CAUSE_LABEL) as (keyof typeof CAUSE_LABEL)[])
    .filter((c) => sup.restarts[c] > 0)
    .map((c) => `${num(sup.restarts[c])} ${CAUSE_LABEL[c]}`)
    .join(', ');
  const last = sup.lastRestart
    ? ` <span class="faint">· last: process ${num(sup.lastRestart.slot)}, ${esc(CAUSE_LABEL[sup.lastRestart.cause])} (${esc(sup.lastRestart.detail)}) ${time(sup.lastRestart.at, now)}</span>`
    : '';
  const restarts = total === 0 ? '<span class="faint">no restarts</span>' : `<span class="${sup.restarts.crash > 0 ? 'bad-text' : 'warn-text'}">${num(total)} restart${total === 1 ? '' : 's'}: ${byCause}</span>`;
  return `<tr class="group" data-supervisor="${esc(sup.id)}"><th colspan="12"><span class="mono">${esc(host)}</span> <span class="faint">· supervisor pid</span> <span class="mono">${esc(sup.pid)}</span> <span class="faint">· ${num(members)} of ${num(sup.processes)} processes ·</span> ${restarts}${last}</th></tr>`;
}

/** Workers by host, then by supervisor (unsupervised ones first); each group under its header row. */
function grouped(workers: WorkerBeat[], viewer: Viewer, now: number): string {
  const groups = new Map<string, { host: string; sup: WorkerBeat['supervisor']; members: WorkerBeat[] }>();
  for (const w of workers) {
    const key = `${w.host}\u0000${w.supervisor?.id ?? ''}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { host: w.host, sup: w.supervisor, members: [] }));
    g.members.push(w);
  }
  // The freshest beat of a supervisor's children carries its latest restart counts.
  for (const g of groups.values()) if (g.sup) g.sup = g.members.reduce((a, b) => (b.beatAt > a.beatAt ? b : a)).supervisor;
  const ordered = [...groups.values()].sort((a, b) => a.host.localeCompare(b.host) || (a.sup?.pid ?? 0) - (b.sup?.pid ?? 0));
  const multi = ordered.length > 1 || ordered.some((g) => g.sup);
  return ordered
    .map((g) => {
      const rows = [...g.members].sort((a, b) => (a.supervisor?.slot ?? 0) - (b.supervisor?.slot ?? 0) || a.pid - b.pid).map((w) => row(w, viewer, now));
      return (multi ? [groupRow(g.host, g.sup, g.members.length, now), ...rows] : rows).join('\n');
    })
    .join('\n');
}

export function workersBody(workers: WorkerBeat[], viewer: Viewer, now: number): string {
  if (workers.length === 0) {
    return `<div class="card">${empty(
      'No worker is running',
      'Start one with <code>QUEUES=default npm run worker</code>. Each worker process writes a heartbeat to Redis every few seconds (<code>HEARTBEAT_INTERVAL_MS</code>); it shows up here with its first beat and disappears <code>HEARTBEAT_TTL_MS</code> after it stops beating.',
    )}</div>`;
  }
  const busy = workers.reduce((a, w) => a + w.busy, 0);
  const slots = workers.reduce((a, w) => a + w.concurrency, 0);
  const tiles = `<div class="tiles">
<div class="tile"><div class="label">Processes</div><div class="value">${num(workers.length)}</div><div class="hint">${num(new Set(workers.map((w) => w.host)).size)} host(s)</div></div>
<div class="tile"><div class="label">Busy</div><div class="value">${num(busy)} <span class="faint">/ ${num(slots)}</span></div><div class="hint">running jobs / slots</div></div>
<div class="tile"><div class="label">Processed</div><div class="value">${num(workers.reduce((a, w) => a + w.processed, 0))}</div><div class="hint">since each process started</div></div>
<div class="tile${workers.some((w) => w.state !== 'running') ? ' warn' : ''}"><div class="label">Quiet or stopping</div><div class="value">${num(workers.filter((w) => w.state !== 'running').length)}</div></div>
</div>`;
  return `${tiles}<div class="card flush"><div class="table-wrap"><table class="workers">
<thead><tr><th>Process</th><th>State</th><th>Queues</th><th class="num">Busy</th><th class="num">Processed</th><th class="num">Failed</th><th class="num">RSS</th><th class="num">Loop lag</th><th class="num">Redis RTT</th><th>Started</th><th>Last beat</th><th></th></tr></thead>
<tbody>${grouped(workers, viewer, now)}</tbody>
</table></div></div>`;
}

export function workersRoutes(ctx: BoardContext): Router {
  const router = Router();

  router.get('/workers', async (req: Request, res: Response) => {
    const now = Date.now();
    const workers = await ctx.data.fleet.list();
    const viewer = viewerOf(ctx, res);
    const all = canWrite(viewer) && workers.length > 0
      ? `${actionForm(viewer, 'quiet', 'all', 'Quiet all', `Quiet all ${workers.length} workers? They finish running jobs and take no new ones.`)}${actionForm(viewer, 'stop', 'all', 'Stop all', `Stop all ${workers.length} workers? Every worker process finishes its running jobs and exits.`, 'danger')}`
      : '';
    const live = '<button type="button" class="btn subtle small live" data-live-toggle><span class="dot"></span><span data-live-label>Live</span></button>';
    res.type('html').send(
      page(
        { base: viewer.base, title: 'Workers', current: '/workers', viewer, flash: takeFlash(req, res) },
        `${heading('Workers', 'Every worker process, from the heartbeat it writes to Redis. Quiet: finish running jobs, take no new ones. Stop: quiet, then exit.', `${live}${all}`)}<div id="workers" data-live="3">${workersBody(workers, viewer, now)}</div>`,
      ),
    );
  });

  for (const command of ['quiet', 'stop'] as const) {
    router.post(`/workers/${command}`, async (req: Request, res: Response) => {
      const id = field(req.body, 'id');
      if (!id) throw new ConveyorError('INVALID_REQUEST', 'id: name a worker id, or "all"');
      const viewer = viewerOf(ctx, res);
      const by = viewer.user;
      const addressed = await ctx.data.fleet.command(command, id, by);
      await audit(ctx, req, res, { action: `worker.${command}`, target: id, count: addressed.length, outcome: addressed.length > 0 ? 'ok' : 'failed', detail: addressed.length === 0 ? 'no live worker with that id' : undefined });
      if (addressed.length === 0) setFlash(req, res, id === 'all' ? 'No worker is running.' : 'That worker is no longer in the fleet.', 'bad');
      else setFlash(req, res, `Sent "${command}" to ${addressed.length === 1 ? `worker ${addressed[0]}` : `${addressed.length} workers`}. It takes effect at once (or within one heartbeat if the message was missed).`);
      res.redirect(303, `${viewer.base}/workers`);
    });
  }

  return router;
}
