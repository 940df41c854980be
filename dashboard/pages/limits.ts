/**
 * Flow limits, on shared/flow: every queue's limits with what they hold back,
 * and one queue's view — its limits, held jobs, slots in use, limit hits, the
 * keys with the largest backlogs — with a form to change them.
 *
 *   GET  /limits · /limits/:queue
 *   POST /limits/:queue (save JSON) · /limits/:queue/clear
 */
import { Router, type Request, type Response } from 'express';
import { isConveyorError } from '../../shared/errors.ts';
import { assertQueueName } from '../../shared/queue/producer.ts';
import { describeLimits } from '../../shared/flow/limits.ts';
import { limitsStatusOf, type LimitsStatus } from '../../shared/conveyor.ts';
import { audit, field, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { badge, esc, num } from './format.ts';
import { canWrite, csrfField, empty, heading, page, type Viewer } from './layout.ts';

const WAITING_ON: Record<string, string> = {
  'key-concurrency': 'at its concurrency',
  'key-rate': 'its rate window',
  turn: 'its turn',
  nothing: '—',
};

function keysTable(s: LimitsStatus): string {
  if (s.keys.length === 0) return empty('No backlog', 'No key has jobs held back right now.');
  return `<div class="table-wrap"><table class="flow-keys"><thead><tr><th>Key</th><th class="num">Held</th><th class="num">Running</th><th>Waiting on</th></tr></thead><tbody>${s.keys
    .map((k) => `<tr data-key="${esc(k.key)}"><td class="mono">${esc(k.key)}</td><td class="num">${num(k.held)}</td><td class="num">${num(k.running)}</td><td>${esc(WAITING_ON[k.waitingOn] ?? k.waitingOn)}</td></tr>`)
    .join('')}</tbody></table></div>`;
}

function queuePage(viewer: Viewer, s: LimitsStatus, draft: string, error = '', flash?: { text: string; tone: 'good' | 'bad' }): string {
  const b = esc(viewer.base);
  const q = encodeURIComponent(s.queue);
  const fromFile = s.managedBy === 'config';
  const form = canWrite(viewer) && !fromFile
    ? `<form method="post" action="${b}/limits/${q}" class="card" novalidate>${csrfField(viewer)}
<div class="field${error ? ' invalid' : ''}"><label for="f-limits">Limits (JSON)</label><textarea id="f-limits" name="limits" spellcheck="false"${error ? ' aria-invalid="true" aria-describedby="e-limits"' : ''}>${esc(draft)}</textarea>${error ? `<div class="error" id="e-limits" role="alert" data-error-for="limits">${esc(error)}</div>` : ''}
<div class="help"><code>{"concurrency": 10, "rate": {"max": 100, "perMs": 1000}, "perKey": {"concurrency": 2, "rate": {"max": 10, "perMs": 1000}, "overrides": {"acme": {"concurrency": 5}}}}</code> — absent fields: no limit; every worker applies a change within 1 s.</div></div>
<div class="actions"><button class="btn primary" type="submit">Save limits</button></div></form>
<form method="post" action="${b}/limits/${q}/clear" class="inline" data-confirm="Remove every limit of ${esc(s.queue)}? Held jobs go on at once.">${csrfField(viewer)}<button class="btn small danger">Remove all limits</button></form>`
    : fromFile
      ? `<p class="muted">${badge('LIMITS file', 'info')} These limits come from the <code>LIMITS</code> file: change them there.</p>`
      : '';
  const body = `<p class="muted"><a href="${b}/limits">← Limits</a></p>${heading(`Limits of ${s.queue}`, describeLimits(s.limits))}
<div class="card"><dl class="facts">
<dt>Held by the per-key gate</dt><dd data-held>${num(s.held)}</dd>
<dt>Holding a key's slot</dt><dd data-admitted>${num(s.admitted)}</dd>
<dt>Key found at its concurrency</dt><dd>${num(s.hits['key-concurrency'])}</dd>
<dt>Key found at its rate</dt><dd>${num(s.hits['key-rate'])}</dd>
</dl></div>
<h2>Largest backlogs</h2><div class="card flush">${keysTable(s)}</div>
${form}`;
  return page({ base: viewer.base, title: `Limits · ${s.queue}`, current: '/limits', viewer, flash }, body);
}

export function limitsRoutes(ctx: BoardContext): Router {
  const router = Router();
  const { limits, inspector } = ctx.data;

  router.get('/limits', async (req: Request, res: Response) => {
    const viewer = viewerOf(ctx, res);
    const names = await inspector.queueNames();
    const all = await Promise.all(names.map((n) => limitsStatusOf(limits, n, 3)));
    const rows = all
      .filter((s) => s.managedBy !== null || s.held > 0)
      .map((s) => `<tr data-queue="${esc(s.queue)}"><td><a href="${esc(viewer.base)}/limits/${encodeURIComponent(s.queue)}"><b>${esc(s.queue)}</b></a>${s.managedBy === 'config' ? ` ${badge('LIMITS file', 'info')}` : ''}</td><td>${esc(describeLimits(s.limits))}</td><td class="num">${num(s.held)}</td><td class="mono">${esc(s.keys.map((k) => `${k.key} (${k.held})`).join(', ') || '—')}</td></tr>`)
      .join('');
    const others = names.filter((n) => !all.find((s) => s.queue === n && (s.managedBy !== null || s.held > 0)));
    const table = rows
      ? `<div class="card flush"><div class="table-wrap"><table class="limits"><thead><tr><th>Queue</th><th>Limits</th><th class="num">Held</th><th>Largest backlogs</th></tr></thead><tbody>${rows}</tbody></table></div></div>`
      : `<div class="card">${empty('No limits', 'No queue has flow limits. Set them per queue below, with <code>PUT /v1/queues/:queue/limits</code>, <code>conveyor limits</code> or the <code>LIMITS</code> file.')}</div>`;
    const rest = others.length > 0 ? `<p class="muted">Without limits: ${others.map((n) => `<a href="${esc(viewer.base)}/limits/${encodeURIComponent(n)}">${esc(n)}</a>`).join(' · ')}</p>` : '';
    res.type('html').send(page({ base: viewer.base, title: 'Limits', current: '/limits', viewer, flash: takeFlash(req, res) }, `${heading('Limits', 'Fleet-wide rate and concurrency per queue and per key; keys are served round-robin.')}${table}${rest}`));
  });

  router.get('/limits/:queue', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    await inspector.requireQueue(queue);
    const s = await limitsStatusOf(limits, queue);
    res.type('html').send(queuePage(viewerOf(ctx, res), s, JSON.stringify(s.limits, null, 2), '', takeFlash(req, res)));
  });

  router.post('/limits/:queue', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    assertQueueName(queue);
    const draft = field(req.body, 'limits');
    const fail = async (message: string) => {
      await audit(ctx, req, res, { action: 'limits.set', queue, target: queue, outcome: 'refused', detail: message });
      res.status(422).type('html').send(queuePage(viewerOf(ctx, res), await limitsStatusOf(limits, queue), draft, message));
    };
    let parsed: unknown;
    try {
      parsed = draft === '' ? {} : JSON.parse(draft);
    } catch (err) {
      await fail(`Not valid JSON: ${(err as Error).message}`);
      return;
    }
    try {
      const v = await limits.set(queue, parsed);
      await audit(ctx, req, res, { action: 'limits.set', queue, target: queue, outcome: 'ok', detail: describeLimits(v.limits) });
      setFlash(req, res, `Saved the limits of ${queue}: ${describeLimits(v.limits)}.`);
      res.redirect(303, `${baseOf(res)}/limits/${encodeURIComponent(queue)}`);
    } catch (err) {
      if (!isConveyorError(err) || err.status >= 500) throw err;
      await fail(err.message);
    }
  });

  router.post('/limits/:queue/clear', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    await inspector.requireQueue(queue);
    await limits.clear(queue);
    await audit(ctx, req, res, { action: 'limits.clear', queue, target: queue, outcome: 'ok' });
    setFlash(req, res, `Removed every limit of ${queue}.`);
    res.redirect(303, `${baseOf(res)}/limits/${encodeURIComponent(queue)}`);
  });

  return router;
}
