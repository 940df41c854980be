/** GET /audit — every operator action, newest first, paged. */
import { Router, type Request, type Response } from 'express';
import type { AuditEntry } from '../../shared/audit.ts';
import { queryInt, viewerOf, type BoardContext } from '../context.ts';
import { badge, esc, num, time } from './format.ts';
import { empty, heading, page, pager } from './layout.ts';

const PAGE = 50;
const OUTCOME = { ok: 'good', refused: 'warn', failed: 'bad' } as const;

function what(e: AuditEntry): string {
  const parts: string[] = [];
  if (e.queue) parts.push(`queue <b>${esc(e.queue)}</b>`);
  if (e.target) parts.push(`<span class="mono">${esc(e.target)}</span>`);
  if (e.jobs?.length) {
    const more = (e.count ?? e.jobs.length) - e.jobs.length;
    parts.push(`<span class="mono" title="${esc(e.jobs.join('\n'))}">${esc(e.jobs.slice(0, 3).join(', '))}</span>${e.jobs.length > 3 || more > 0 ? ` <span class="faint">+${num(e.jobs.length - Math.min(3, e.jobs.length) + Math.max(0, more))} more</span>` : ''}`);
  } else if (e.count !== undefined) {
    parts.push(`${num(e.count)} affected`);
  }
  return parts.join(' · ');
}

export function auditRoutes(ctx: BoardContext): Router {
  const router = Router();
  router.get('/audit', async (req: Request, res: Response) => {
    const offset = queryInt(req, 'offset', 0);
    const { entries, total } = await ctx.data.audit.list(offset, PAGE);
    const viewer = viewerOf(ctx, res);
    const rows = entries.map((e) => `<tr data-action="${esc(e.action)}">
<td class="nowrap">${time(e.at)}</td>
<td>${esc(e.user)} ${e.role === 'read' ? badge('read-only', 'info') : ''}<span class="secondary mono">${esc(e.ip ?? '')}</span></td>
<td class="mono">${esc(e.action)}</td>
<td>${what(e)}${e.detail ? `<span class="secondary">${esc(e.detail)}</span>` : ''}</td>
<td>${badge(e.outcome, OUTCOME[e.outcome] ?? 'neutral')}</td></tr>`);
    const body = total === 0
      ? `<div class="card">${empty('Nothing recorded yet', 'Every change made here (pause, replay, drop, quiet, stop, schedule edits, actions on the queue board) and every login is recorded with who, what and when.')}</div>`
      : `<div class="card flush"><div class="table-wrap"><table class="audit"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>On</th><th>Outcome</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>${pager(`${viewer.base}/audit`, {}, offset, PAGE, total)}</div>`;
    res.type('html').send(page({ base: viewer.base, title: 'Audit log', current: '/audit', viewer }, `${heading('Audit log', `Who changed what, newest first. Kept in Redis, the last ${num(ctx.data.audit.cap)} entries.`)}${body}`));
  });
  return router;
}
