/**
 * One dead letter: payload, error, stack per attempt, options and times;
 * replay or drop it.
 *
 *   GET  /dead/:queue/:id
 *   POST /dead/:queue/:id/replay | /drop
 */
import { Router, type Request, type Response } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import { assertQueueName } from '../../shared/queue/producer.ts';
import type { DeadLetter } from '../../shared/queue/dead-letter.ts';
import { bullName } from '../../shared/queue/names.ts';
import { audit, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { badge, esc, jsonBlock, num, time, when } from './format.ts';
import { boardQueueHref, canWrite, csrfField, heading, page, type Viewer } from './layout.ts';

function actions(d: DeadLetter, viewer: Viewer): string {
  if (!canWrite(viewer)) return '';
  const here = `${viewer.base}/dead/${encodeURIComponent(d.queue)}/${encodeURIComponent(d.id)}`;
  return `<form method="post" action="${esc(here)}/replay" class="inline" data-confirm="Replay ${esc(d.id)}? It goes back to ${esc(d.queue)} and runs again.">${csrfField(viewer)}<button class="btn primary">Replay</button></form>
<form method="post" action="${esc(here)}/drop" class="inline" data-confirm="Drop ${esc(d.id)} for good?">${csrfField(viewer)}<button class="btn danger">Drop</button></form>`;
}

export function deadLetterBody(d: DeadLetter, base: string): string {
  const attempts = d.stacktrace.length === 0
    ? '<p class="muted">No stack trace was kept for this job.</p>'
    : d.stacktrace
        .map((s, i) => `<details${i === d.stacktrace.length - 1 ? ' open' : ''}><summary>Attempt ${num(i + 1)}${i === d.stacktrace.length - 1 ? ' (last)' : ''}</summary><pre class="code">${esc(s)}</pre></details>`)
        .join('');
  const allowed = d.opts.attempts;
  return `<div class="grid">
<div class="card"><h2>Summary</h2><dl class="facts">
<dt>Queue</dt><dd><a href="${esc(boardQueueHref(base, bullName(d.queue)))}">${esc(d.queue)}</a></dd>
<dt>Job name</dt><dd class="mono">${esc(d.name)}</dd>
<dt>Attempts</dt><dd>${num(d.attemptsMade)}${allowed ? ` of ${num(allowed)}` : ''}</dd>
<dt>Created</dt><dd>${time(d.createdAt)}</dd>
<dt>Last started</dt><dd>${time(d.processedAt)}</dd>
<dt>Failed</dt><dd>${time(d.finishedAt)}</dd>
<dt>Dead since</dt><dd>${when(d.deadAt)}</dd>
</dl></div>
<div class="card"><h2>Error</h2><pre class="code bad-text" data-error>${esc(d.failedReason || '(no error message)')}</pre><h2 class="mt">Options</h2>${jsonBlock(d.opts)}</div>
</div>
<div class="card"><h2>Payload</h2>${jsonBlock(d.data)}</div>
<div class="card"><h2>Attempt history</h2><p class="muted">The stack of each failed attempt, oldest first (BullMQ keeps one per attempt).</p>${attempts}</div>`;
}

export function deadLetterDetailRoutes(ctx: BoardContext): Router {
  const router = Router();

  router.get('/dead/:queue/:id', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    const id = String(req.params.id);
    assertQueueName(queue);
    const d = await ctx.data.dead.deadLetters.get(queue, id);
    if (!d) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `No dead letter "${id}" in queue "${queue}" (it may have been replayed or dropped).`);
    const viewer = viewerOf(ctx, res);
    res.type('html').send(
      page(
        { base: viewer.base, title: `Dead letter ${id}`, current: '/dead', viewer, flash: takeFlash(req, res) },
        `<p class="muted"><a href="${esc(viewer.base)}/dead">← Dead letters</a></p>${heading(`Dead letter ${id}`, `${badge('dead', 'bad')} in <b>${esc(queue)}</b> · ${esc(d.name)}`, actions(d, viewer))}${deadLetterBody(d, viewer.base)}`,
      ),
    );
  });

  for (const action of ['replay', 'drop'] as const) {
    router.post(`/dead/:queue/:id/${action}`, async (req: Request, res: Response) => {
      const queue = String(req.params.queue);
      const id = String(req.params.id);
      assertQueueName(queue);
      const r = action === 'replay' ? await ctx.data.dead.replay([{ queue, id }]) : await ctx.data.dead.drop([{ queue, id }]);
      const ok = r.done.length === 1;
      await audit(ctx, req, res, { action: `dead.${action}`, queue, jobs: [`${queue}:${id}`], count: r.done.length, outcome: ok ? 'ok' : 'failed', detail: ok ? undefined : 'already gone' });
      setFlash(req, res, ok ? `${action === 'replay' ? 'Replayed' : 'Dropped'} ${id} (${queue}).` : `${id} was no longer a dead letter.`, ok ? 'good' : 'bad');
      res.redirect(303, `${baseOf(res)}/dead`);
    });
  }

  return router;
}
