/**
 * One workflow (shared/workflows): its graph drawn in layers (each step after
 * the steps it runs after), each step's state, links to the steps' jobs (the
 * dead letter for a failed or cancelled one), and "Replay" on a failed or
 * cancelled step (it runs again with every step after it that failed).
 *
 *   GET  /workflows/:id
 *   POST /workflows/:id/replay (step)
 */
import { Router, type Request, type Response } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import { Batches } from '../../shared/batches/batches.ts';
import { BatchStore } from '../../shared/batches/store.ts';
import { assertBatchId } from '../../shared/batches/input.ts';
import { bullName } from '../../shared/queue/names.ts';
import { Workflows, type StepState, type WorkflowView } from '../../shared/workflows/workflows.ts';
import { audit, field, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { badge, esc, num, time, type Tone } from './format.ts';
import { boardQueueHref, canWrite, csrfField, heading, page, type Viewer } from './layout.ts';

const TONE: Record<StepState, Tone> = { blocked: 'neutral', pending: 'info', retrying: 'warn', succeeded: 'good', dead: 'bad', cancelled: 'bad' };
const FILL: Record<StepState, string> = { blocked: '#eef0f4', pending: '#dbe6ff', retrying: '#fff1cc', succeeded: '#d9f2e1', dead: '#fbdcd9', cancelled: '#f3e3e1' };
const W = 150;
const H = 40;
const GAP_X = 60;
const GAP_Y = 16;

function stepHref(base: string, wf: WorkflowView, name: string): string {
  const s = wf.steps[name]!;
  return s.state === 'dead' || s.state === 'cancelled' ? `${base}/dead/${encodeURIComponent(s.queue)}/${encodeURIComponent(s.id)}` : `${boardQueueHref(base, bullName(s.queue))}/${encodeURIComponent(s.id)}`;
}

/** The graph: a column per layer (a step's layer is one more than its deepest dependency's). */
export function graphSvg(wf: WorkflowView, base: string): string {
  const layer = new Map<string, number>();
  for (const n of wf.order) layer.set(n, Math.max(-1, ...wf.steps[n]!.after.map((d) => layer.get(d)!)) + 1);
  const columns: string[][] = [];
  for (const n of wf.order) (columns[layer.get(n)!] ??= []).push(n);
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, c) => col.forEach((n, r) => pos.set(n, { x: c * (W + GAP_X), y: r * (H + GAP_Y) })));
  const width = columns.length * (W + GAP_X) - GAP_X;
  const height = Math.max(...columns.map((col) => col.length)) * (H + GAP_Y) - GAP_Y;
  const edges = wf.order.flatMap((n) =>
    wf.steps[n]!.after.map((d) => {
      const a = pos.get(d)!;
      const b = pos.get(n)!;
      return `<line class="edge" x1="${a.x + W}" y1="${a.y + H / 2}" x2="${b.x}" y2="${b.y + H / 2}" stroke="#9aa3b2" stroke-width="1.5"${wf.steps[d]!.optional ? ' stroke-dasharray="4 3"' : ''} marker-end="url(#arrow)"/>`;
    }),
  );
  const nodes = wf.order.map((n) => {
    const p = pos.get(n)!;
    const s = wf.steps[n]!;
    return `<a href="${esc(stepHref(base, wf, n))}" data-step="${esc(n)}" data-state="${s.state}"><title>${esc(`${n}: ${s.state}${s.error ? ` — ${s.error}` : ''} (${s.queue} / ${s.name})`)}</title><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="6" fill="${FILL[s.state]}" stroke="#6b7280"/><text x="${p.x + 10}" y="${p.y + 16}" font-size="12" font-weight="600">${esc(n.length > 20 ? `${n.slice(0, 19)}…` : n)}</text><text x="${p.x + 10}" y="${p.y + 31}" font-size="11" fill="#4b5563">${esc(s.state)}</text></a>`;
  });
  return `<svg class="workflow-graph" viewBox="-4 -4 ${width + 8} ${height + 8}" width="${width + 8}" height="${height + 8}" role="img" aria-label="The workflow's steps and their dependencies"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#9aa3b2"/></marker></defs>${edges.join('')}${nodes.join('')}</svg>`;
}

function workflowPage(viewer: Viewer, wf: WorkflowView, flash?: { text: string; tone: 'good' | 'bad' }): string {
  const b = esc(viewer.base);
  const here = `${viewer.base}/workflows/${encodeURIComponent(wf.id)}`;
  const rows = wf.order
    .map((n) => {
      const s = wf.steps[n]!;
      const replay = canWrite(viewer) && (s.state === 'dead' || s.state === 'cancelled')
        ? `<form method="post" action="${esc(here)}/replay" class="inline" data-confirm="Replay ${esc(n)} and every step after it that failed or was cancelled?">${csrfField(viewer)}<input type="hidden" name="step" value="${esc(n)}"><button class="btn small primary">Replay</button></form>`
        : '';
      return `<tr data-step-row="${esc(n)}"><td class="mono"><a href="${esc(stepHref(viewer.base, wf, n))}">${esc(n)}</a></td><td>${badge(s.state, TONE[s.state])}${s.optional ? ` ${badge('optional', 'neutral')}` : ''}</td><td class="mono">${esc(s.queue)} / ${esc(s.name)}</td><td class="mono">${esc(s.after.join(', ') || '—')}</td><td>${s.error ? `<pre class="code bad-text">${esc(s.error.split('\n')[0] ?? '')}</pre>` : ''}</td><td>${replay}</td></tr>`;
    })
    .join('');
  const body = `<p class="muted"><a href="${b}/batches/${encodeURIComponent(wf.id)}">← Its batch</a></p>${heading(`Workflow ${wf.id}`, wf.description ? esc(wf.description) : '')}
<div class="card"><p>${badge(wf.state, wf.state === 'succeeded' ? 'good' : wf.state === 'completed' ? 'warn' : 'neutral')} ${num(Math.round(wf.progress * 100))} % — ${num(wf.pending)} pending · ${num(wf.failed)} retrying · ${num(wf.succeeded)} succeeded · ${num(wf.dead)} dead or cancelled, of ${num(wf.total)} steps; created ${time(wf.createdAt)}</p>
<div class="table-wrap">${graphSvg(wf, viewer.base)}</div></div>
<h2>Steps</h2><div class="card flush"><div class="table-wrap"><table><thead><tr><th>Step</th><th>State</th><th>Job</th><th>After</th><th>Error</th><th></th></tr></thead><tbody>${rows}</tbody></table></div></div>`;
  return page({ base: viewer.base, title: `Workflow ${wf.id.slice(0, 8)}`, current: '/batches', viewer, flash }, body);
}

export function workflowRoutes(ctx: BoardContext): Router {
  const router = Router();
  const batches = new Batches(new BatchStore(ctx.data.queues), { maxPayloadBytes: 1 << 20 });
  const workflows = new Workflows(batches, { maxPayloadBytes: 1 << 20 });

  router.get('/workflows/:id', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    assertBatchId(id);
    const viewer = viewerOf(ctx, res);
    res.type('html').send(workflowPage(viewer, await workflows.get(id), takeFlash(req, res)));
  });

  router.post('/workflows/:id/replay', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    assertBatchId(id);
    const step = field(req.body, 'step');
    if (!step) throw new ConveyorError('INVALID_REQUEST', 'name the step to replay');
    const replayed = await workflows.replay(id, step, ctx.data.inspector.deadLetters);
    await audit(ctx, req, res, { action: 'workflow.replay', target: `${id}/${step}`, outcome: 'ok', detail: `replayed ${replayed.join(', ')}` });
    setFlash(req, res, `Replayed ${replayed.join(', ')}.`);
    res.redirect(303, `${baseOf(res)}/workflows/${encodeURIComponent(id)}`);
  });

  return router;
}
