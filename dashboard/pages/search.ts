/**
 * GET /search?q=&mode=id|name|text&queue=&cursor= — find jobs by id across
 * queues, or by name or a substring of data / error with a bounded scan that
 * says how far it got and goes on from there.
 */
import { Router, type Request, type Response } from 'express';
import { bullName } from '../../shared/queue/names.ts';
import type { SearchHit, SearchPage } from '../../shared/queue/search.ts';
import { DEFAULT_BUDGET } from '../../shared/queue/search.ts';
import { queryString, viewerOf, type BoardContext } from '../context.ts';
import { badge, esc, num, plural, time, type Tone } from './format.ts';
import { boardQueueHref, empty, heading, page } from './layout.ts';
import { deadHref } from './dead-letters.ts';

type Mode = 'id' | 'name' | 'text';
const MODES: { value: Mode; label: string }[] = [
  { value: 'text', label: 'Data or error contains' },
  { value: 'id', label: 'Job id is' },
  { value: 'name', label: 'Job name contains' },
];
const STATE_TONE: Record<string, Tone> = { waiting: 'info', active: 'good', delayed: 'neutral', completed: 'good', failed: 'warn', dead: 'bad' };

/** Where a hit opens: Conveyor's dead-letter page, or bull-board's job page. */
export function jobHref(base: string, h: Pick<SearchHit, 'queue' | 'id' | 'state'>): string {
  return h.state === 'dead' ? deadHref(base, h.queue, h.id) : `${boardQueueHref(base, bullName(h.queue))}/${encodeURIComponent(h.id)}`;
}

function highlight(snippet: string, needle: string): string {
  const i = snippet.toLowerCase().indexOf(needle.toLowerCase());
  if (i === -1 || needle === '') return esc(snippet);
  return `${esc(snippet.slice(0, i))}<mark>${esc(snippet.slice(i, i + needle.length))}</mark>${esc(snippet.slice(i + needle.length))}`;
}

function results(base: string, hits: SearchHit[], q: string): string {
  const rows = hits.map((h) => `<tr data-hit="${esc(`${h.queue}:${h.id}`)}">
<td><a class="mono" href="${esc(jobHref(base, h))}">${esc(h.id)}</a></td><td>${esc(h.queue)}</td><td class="mono">${esc(h.name)}</td>
<td>${badge(h.state, STATE_TONE[h.state] ?? 'neutral')}</td><td class="nowrap">${time(h.createdAt)}</td>
<td>${h.snippet ? `<span class="faint">${esc(h.match)}:</span> <span class="mono">${highlight(h.snippet, q)}</span>` : `<span class="faint">${esc(h.match)}</span>`}</td></tr>`);
  return `<div class="table-wrap"><table class="results"><thead><tr><th>Job</th><th>Queue</th><th>Name</th><th>State</th><th>Created</th><th>Match</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function progress(base: string, p: SearchPage, req: Request): string {
  if (!p.cursor) return `<p class="muted scan-note">Searched every job (${plural(p.scanned, 'job')} examined in this pass).</p>`;
  const next = new URLSearchParams({ q: queryString(req, 'q'), mode: queryString(req, 'mode'), queue: queryString(req, 'queue'), cursor: p.cursor });
  return `<p class="scan-note"><span class="muted">Examined ${num(p.scanned)} of about ${num(p.total)} jobs: a search looks at ${num(p.budget)} jobs at most, so it never holds Redis up.</span> <a class="btn small" href="${esc(base)}/search?${esc(next.toString())}">Search the next ${num(p.budget)} →</a></p>`;
}

export function searchRoutes(ctx: BoardContext): Router {
  const router = Router();

  router.get('/search', async (req: Request, res: Response) => {
    const q = queryString(req, 'q').slice(0, 200);
    const modeRaw = queryString(req, 'mode');
    const mode: Mode = modeRaw === 'id' || modeRaw === 'name' ? modeRaw : 'text';
    const queue = queryString(req, 'queue');
    const names = await ctx.data.inspector.queueNames();
    const viewer = viewerOf(ctx, res);
    const base = viewer.base;
    const form = `<form method="get" action="${esc(base)}/search" class="card searchbar" role="search">
<input type="search" name="q" value="${esc(q)}" placeholder="order-1042, customer@example.com, ECONNREFUSED…" aria-label="Search text" autofocus>
<select name="mode" aria-label="What to match">${MODES.map((m) => `<option value="${m.value}"${m.value === mode ? ' selected' : ''}>${esc(m.label)}</option>`).join('')}</select>
<select name="queue" aria-label="Queue"><option value="">All queues</option>${names.map((n) => `<option${n === queue ? ' selected' : ''}>${esc(n)}</option>`).join('')}</select>
<button class="btn primary" type="submit">Search</button></form>`;
    let body: string;
    if (q === '') {
      body = `<div class="card">${empty('Find a job', `By <b>id</b> (looked up directly in every queue), by <b>name</b>, or by any text in its <b>data or error</b>. Text searches read at most ${num(DEFAULT_BUDGET)} jobs per pass, newest finished jobs first, and let you go on from where they stopped.`)}</div>`;
    } else if (mode === 'id') {
      const hits = (await ctx.data.search.byId(q)).filter((h) => !queue || h.queue === queue);
      body = `<div class="card flush">${hits.length === 0 ? empty('No job with that id', `No queue${queue ? ` named "${esc(queue)}"` : ''} holds a job or dead letter with id <code>${esc(q)}</code>. Completed jobs are kept for a day (or the last 1,000).`) : results(base, hits, q)}</div>`;
    } else {
      const p = await ctx.data.search.scan(mode, q, { queue: queue || undefined, cursor: queryString(req, 'cursor') || undefined });
      body = `<div class="card flush">${p.hits.length === 0 ? empty('No match in the jobs examined', `Nothing ${mode === 'name' ? 'named' : 'containing'} <code>${esc(q)}</code> among ${plural(p.scanned, 'job')}.`) : results(base, p.hits, q)}<div class="pager">${progress(base, p, req)}</div></div>`;
    }
    res.type('html').send(page({ base, title: 'Search', current: '/search', viewer }, `${heading('Search', 'Jobs in every state, dead letters included.')}${form}${body}`));
  });

  return router;
}
