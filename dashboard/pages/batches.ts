/**
 * Batches (shared/batches): the recent ones with their progress and counts,
 * and one batch — progress, counts, its callbacks (fired, enqueued, a link
 * to the callback job), nested batches, its dead jobs with their errors —
 * with a button that replays every dead job of the batch.
 *
 *   GET  /batches · /batches/:id
 *   POST /batches/:id/replay
 */
import { Router, type Request, type Response } from 'express';
import { isConveyorError } from '../../shared/errors.ts';
import { Batches } from '../../shared/batches/batches.ts';
import { BatchStore } from '../../shared/batches/store.ts';
import { assertBatchId } from '../../shared/batches/input.ts';
import type { BatchView } from '../../shared/batches/types.ts';
import { workflowKey } from '../../shared/workflows/workflows.ts';
import { audit, queryInt, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { badge, esc, num, time, type Tone } from './format.ts';
import { canWrite, csrfField, empty, heading, page, pager, type Viewer } from './layout.ts';

const STATE_TONE: Record<BatchView['state'], Tone> = { open: 'info', running: 'neutral', completed: 'warn', succeeded: 'good' };
const PAGE = 50;

/** The batch's progress: finished jobs over its total (an SVG bar: the CSP allows no inline style). */
function progressBar(b: BatchView): string {
  const pct = Math.round(b.progress * 100);
  const dead = b.total > 0 ? Math.round((b.dead / b.total) * 100) : 0;
  const title = `${pct} % finished (${num(b.succeeded)} succeeded, ${num(b.dead)} dead of ${num(b.total)})`;
  return `<svg class="meter ok progress" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label="${esc(title)}" data-progress="${pct}"><title>${esc(title)}</title><rect class="track" width="100" height="6" rx="3"/><rect class="fill" width="${pct - dead}" height="6" rx="3"/>${dead > 0 ? `<rect class="fill dead" x="${pct - dead}" width="${dead}" height="6" rx="3"/>` : ''}</svg>`;
}

function counts(b: BatchView): string {
  return `<span data-counts>${num(b.pending)} pending · ${num(b.failed)} retrying · ${num(b.succeeded)} succeeded · ${num(b.dead)} dead</span>`;
}

function listPage(viewer: Viewer, batches: BatchView[], total: number, offset: number, flash?: { text: string; tone: 'good' | 'bad' }): string {
  const b = esc(viewer.base);
  const rows = batches
    .map((x) => `<tr data-batch="${esc(x.id)}"><td><a class="mono" href="${b}/batches/${encodeURIComponent(x.id)}">${esc(x.id.slice(0, 8))}…</a>${x.description ? `<div class="muted">${esc(x.description)}</div>` : ''}</td>
<td>${badge(x.state, STATE_TONE[x.state])}</td><td>${progressBar(x)}<div class="muted">${num(Math.round(x.progress * 100))} %</div></td><td class="num">${num(x.total)}</td><td>${counts(x)}</td>
<td>${Object.entries(x.callbacks).map(([k, c]) => (c.firedAt ? badge(k, 'good', `fired ${c.firedAt}`) : badge(k, 'neutral', 'not fired'))).join(' ')}</td><td>${time(x.createdAt)}</td></tr>`)
    .join('');
  const body = `${heading('Batches', 'Groups of jobs with callbacks: newest first.')}
${batches.length === 0 ? empty('No batches', 'Create one with <code>conveyor.batches.create(…)</code>, <code>POST /v1/batches</code> or <code>conveyor batches create</code>.') : `<div class="card flush"><div class="table-wrap"><table class="batches"><thead><tr><th>Batch</th><th>State</th><th>Progress</th><th class="num">Jobs</th><th>Counts</th><th>Callbacks</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table></div></div>`}
${pager(`${viewer.base}/batches`, {}, offset, PAGE, total)}`;
  return page({ base: viewer.base, title: 'Batches', current: '/batches', viewer, flash }, body);
}

function batchPage(viewer: Viewer, x: BatchView, isWorkflow: boolean, flash?: { text: string; tone: 'good' | 'bad' }): string {
  const b = esc(viewer.base);
  const here = `${viewer.base}/batches/${encodeURIComponent(x.id)}`;
  const callbacks = Object.entries(x.callbacks)
    .map(([k, c]) => `<tr data-callback="${esc(k)}"><td>${esc(k)}</td><td class="mono">${esc(c.queue)} / ${esc(c.name)}</td><td>${c.firedAt ? time(c.firedAt) : '<span class="muted">not fired</span>'}</td><td>${c.enqueuedAt ? `${time(c.enqueuedAt)} <a class="mono" href="${b}/search?q=${encodeURIComponent(c.jobId)}">${esc(c.jobId)}</a>` : '—'}</td></tr>`)
    .join('');
  const dead = x.failedJobs
    .map((f) => `<tr data-dead="${esc(f.id)}"><td class="mono"><a href="${b}/dead/${encodeURIComponent(f.queue)}/${encodeURIComponent(f.id)}">${esc(f.id)}</a></td><td>${esc(f.queue)}</td><td><pre class="code bad-text">${esc(f.error.split('\n')[0] ?? '')}</pre></td></tr>`)
    .join('');
  const replay = canWrite(viewer) && x.dead > 0
    ? `<form method="post" action="${esc(here)}/replay" class="inline" data-confirm="Replay the ${num(x.dead)} dead jobs of this batch? They go back to their queues and count as pending again.">${csrfField(viewer)}<button class="btn primary">Replay dead jobs</button></form>`
    : '';
  const graph = isWorkflow ? `<a class="btn" href="${b}/workflows/${encodeURIComponent(x.id)}">Workflow graph</a>` : '';
  const body = `<p class="muted"><a href="${b}/batches">← Batches</a></p>${heading(`${isWorkflow ? 'Workflow' : 'Batch'} ${x.id}`, x.description ? esc(x.description) : '', graph + replay)}
<div class="card">${progressBar(x)}<p>${badge(x.state, STATE_TONE[x.state])} ${num(Math.round(x.progress * 100))} % — ${counts(x)} of ${num(x.total)}</p>
<dl class="facts">
<dt>Queues</dt><dd>${x.queues.map((q) => esc(q)).join(', ')}</dd>
<dt>Sealed</dt><dd>${x.sealed ? time(x.sealedAt) : 'no: jobs may still be added'}</dd>
<dt>Created</dt><dd>${time(x.createdAt)}</dd>
<dt>Completed</dt><dd>${x.completedAt ? time(x.completedAt) : '—'}</dd>
<dt>Succeeded</dt><dd>${x.succeededAt ? time(x.succeededAt) : '—'}</dd>
${x.parent ? `<dt>Nested in</dt><dd><a class="mono" href="${b}/batches/${encodeURIComponent(x.parent)}">${esc(x.parent)}</a></dd>` : ''}
${x.children.total > 0 ? `<dt>Nested batches</dt><dd>${num(x.children.total)}: ${num(x.children.pending)} pending, ${num(x.children.completed)} completed, ${num(x.children.succeeded)} succeeded</dd>` : ''}
</dl></div>
<h2>Callbacks</h2><div class="card flush">${callbacks ? `<div class="table-wrap"><table><thead><tr><th>Callback</th><th>Job</th><th>Fired</th><th>Enqueued</th></tr></thead><tbody>${callbacks}</tbody></table></div>` : empty('No callbacks', 'This batch was created without onSuccess, onComplete or onDeath.')}</div>
<h2>Dead jobs</h2><div class="card flush">${dead ? `<div class="table-wrap"><table><thead><tr><th>Job</th><th>Queue</th><th>Error</th></tr></thead><tbody>${dead}</tbody></table></div>${x.dead > x.failedJobs.length ? `<p class="muted">The first ${num(x.failedJobs.length)} of ${num(x.dead)}.</p>` : ''}` : empty('No dead jobs', 'Every job of this batch succeeded or is still running.')}</div>`;
  return page({ base: viewer.base, title: `Batch ${x.id.slice(0, 8)}`, current: '/batches', viewer, flash }, body);
}

export function batchRoutes(ctx: BoardContext): Router {
  const router = Router();
  const batches = new Batches(new BatchStore(ctx.data.queues), { maxPayloadBytes: 1 << 20 });

  router.get('/batches', async (req: Request, res: Response) => {
    const viewer = viewerOf(ctx, res);
    const offset = queryInt(req, 'offset', 0);
    const { batches: list, total } = await batches.list(offset, PAGE);
    res.type('html').send(listPage(viewer, list, total, offset, takeFlash(req, res)));
  });

  router.get('/batches/:id', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    assertBatchId(id);
    const viewer = viewerOf(ctx, res);
    const view = await batches.get(id);
    const isWorkflow = (await ctx.data.queues.connection.exists(workflowKey(view.queues[0]!, id))) === 1;
    res.type('html').send(batchPage(viewer, view, isWorkflow, takeFlash(req, res)));
  });

  // Every dead job of the batch back to its queue (and into the batch), 100 at a time; a dropped dead letter stays dead.
  router.post('/batches/:id/replay', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    assertBatchId(id);
    const dl = ctx.data.inspector.deadLetters;
    let replayed = 0;
    const tried = new Set<string>();
    for (;;) {
      const fresh = (await batches.get(id)).failedJobs.filter((f) => !tried.has(`${f.queue}\n${f.id}`));
      if (fresh.length === 0) break;
      for (const f of fresh) {
        tried.add(`${f.queue}\n${f.id}`);
        try {
          await dl.replay(f.queue, f.id);
          replayed++;
        } catch (err) {
          if (!isConveyorError(err, 'DEAD_LETTER_NOT_FOUND')) throw err;
        }
      }
    }
    await audit(ctx, req, res, { action: 'batch.replay', target: id, outcome: 'ok', detail: `${replayed} dead jobs replayed` });
    setFlash(req, res, replayed > 0 ? `Replayed ${replayed} dead jobs of the batch.` : 'No dead letter of this batch was left to replay.', replayed > 0 ? 'good' : 'bad');
    res.redirect(303, `${baseOf(res)}/batches/${encodeURIComponent(id)}`);
  });

  return router;
}
