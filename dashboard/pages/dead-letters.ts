/**
 * Dead letters across every queue: groups by error fingerprint, the letters
 * newest first with checkboxes, and bulk replay / drop through a
 * confirmation page that shows the dry-run count.
 *
 *   GET  /dead?queue=&group=&offset=
 *   POST /dead/bulk   action=replay|drop, scope=ids|group|all, job=queue:id..., group, queue, confirm=1
 */
import { Router, type Request, type Response } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import { parseRefKey, refKey, type DeadScan, type DeadSelection } from '../../shared/queue/dead-letter-groups.ts';
import { audit, field, fields, queryInt, queryString, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { esc, num, plural, time } from './format.ts';
import { canWrite, csrfField, empty, heading, page, pager, type Viewer } from './layout.ts';
import { deadLetterDetailRoutes } from './dead-letter.ts';

const PAGE = 50;

export function deadHref(base: string, queue: string, id: string): string {
  return `${base}/dead/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
}

function bulkButtons(viewer: Viewer, label: string, scope: string, hidden: string): string {
  if (!canWrite(viewer)) return '';
  return `<form method="post" action="${esc(viewer.base)}/dead/bulk" class="inline">${csrfField(viewer)}${hidden}<input type="hidden" name="scope" value="${scope}"><button class="btn small" name="action" value="replay">Replay ${esc(label)}…</button> <button class="btn small danger" name="action" value="drop">Drop ${esc(label)}…</button></form>`;
}

function groupsCard(scan: DeadScan, viewer: Viewer, queue: string, group: string): string {
  if (scan.groups.length === 0) return '';
  const rows = scan.groups.map((g) => {
    const qs = Object.entries(g.byQueue).sort((a, b) => b[1] - a[1]).map(([q, n]) => `${esc(q)} <span class="faint">${num(n)}</span>`).join(', ');
    const show = new URLSearchParams({ ...(queue ? { queue } : {}), group: g.fingerprint }).toString();
    const hidden = `<input type="hidden" name="group" value="${esc(g.fingerprint)}">${queue ? `<input type="hidden" name="queue" value="${esc(queue)}">` : ''}`;
    return `<tr data-group="${esc(g.fingerprint)}"${g.fingerprint === group ? ' class="selected"' : ''}>
<td><a href="${esc(viewer.base)}/dead?${esc(show)}" class="mono">${esc(g.sample)}</a>${g.pattern !== g.sample ? `<span class="secondary mono hide-phone" title="fingerprint ${esc(g.fingerprint)}">${esc(g.pattern)}</span>` : ''}</td>
<td class="num">${num(g.count)}</td><td class="hide-phone">${qs}</td><td class="nowrap">${time(g.newestAt)}</td>
<td class="actions-cell"><div class="row-actions">${bulkButtons(viewer, `all ${num(g.count)}`, 'group', hidden)}</div></td></tr>`;
  });
  return `<div class="card flush"><div class="card-head"><h2>By error</h2><span class="muted">${plural(scan.groups.length, 'group')} · numbers, ids and times are ignored when grouping</span></div>
<div class="table-wrap"><table class="groups"><thead><tr><th>Error</th><th class="num">Count</th><th class="hide-phone">Queues</th><th>Newest</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table></div></div>`;
}

function lettersCard(scan: DeadScan, viewer: Viewer, queue: string, group: string, offset: number): string {
  const shown = scan.letters.slice(offset, offset + PAGE);
  const write = canWrite(viewer);
  const rows = shown.map((d) => `<tr data-dead="${esc(refKey(d))}">
${write ? `<td class="check"><input type="checkbox" name="job" value="${esc(refKey(d))}" aria-label="select ${esc(d.id)}"></td>` : ''}
<td><a href="${esc(deadHref(viewer.base, d.queue, d.id))}" class="mono">${esc(d.id)}</a><span class="secondary">${esc(d.name)}</span></td>
<td>${esc(d.queue)}</td>
<td><div class="trunc mono" title="${esc(d.failedReason)}">${esc(d.failedReason.split('\n')[0] || '(no error message)')}</div></td>
<td class="num">${num(d.attemptsMade)}</td>
<td class="nowrap">${time(d.deadAt)}</td></tr>`);
  const b = esc(viewer.base);
  const filterNote = group ? ` in group <code>${esc(group)}</code> · <a href="${b}/dead${queue ? `?queue=${encodeURIComponent(queue)}` : ''}">show all</a>` : '';
  const toolbar = write
    ? `<div class="toolbar"><label class="nowrap"><input type="checkbox" data-select-all> Select page</label><span class="muted grow" data-selected-count>None selected</span>
<button class="btn small" name="action" value="replay" data-needs-selection>Replay selected…</button><button class="btn small danger" name="action" value="drop" data-needs-selection>Drop selected…</button></div>`
    : '';
  const scopeAll = `${queue ? `<input type="hidden" name="queue" value="${esc(queue)}">` : ''}${group ? `<input type="hidden" name="group" value="${esc(group)}">` : ''}`;
  return `<div class="card flush"><div class="card-head"><h2>Dead letters</h2><span class="muted">newest first${filterNote}</span>
<span class="actions">${scan.letters.length > 0 ? bulkButtons(viewer, `all ${num(scan.letters.length)}`, group ? 'group' : 'all', scopeAll) : ''}</span></div>
<form method="post" action="${b}/dead/bulk" data-selection>${csrfField(viewer)}<input type="hidden" name="scope" value="ids">${toolbar}
<div class="table-wrap"><table class="letters"><thead><tr>${write ? '<th class="check"></th>' : ''}<th>Job</th><th>Queue</th><th>Error</th><th class="num">Attempts</th><th>Died</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></form>
${pager(`${viewer.base}/dead`, { queue, group }, offset, PAGE, scan.letters.length)}</div>`;
}

async function queueOptions(ctx: BoardContext, base: string, current: string): Promise<string> {
  const names = await ctx.data.inspector.queueNames();
  return `<form method="get" action="${esc(base)}/dead" class="actions"><label for="dq" class="muted">Queue</label><select id="dq" name="queue"><option value="">All queues</option>${names
    .map((n) => `<option${n === current ? ' selected' : ''}>${esc(n)}</option>`)
    .join('')}</select><button class="btn small" type="submit">Show</button></form>`;
}

function selectionOf(body: unknown): DeadSelection {
  const scope = field(body, 'scope');
  const queue = field(body, 'queue') || undefined;
  if (scope === 'ids') {
    const refs = fields(body, 'job').map(parseRefKey).filter((r) => r !== undefined);
    if (refs.length === 0) throw new ConveyorError('INVALID_REQUEST', 'Select at least one dead letter.');
    return { kind: 'ids', refs };
  }
  if (scope === 'group') {
    const fp = field(body, 'group');
    if (!/^[0-9a-f]{12}$/.test(fp)) throw new ConveyorError('INVALID_REQUEST', 'group: not a fingerprint');
    return { kind: 'group', fingerprint: fp, queue };
  }
  if (scope === 'all') return { kind: 'all', queue };
  throw new ConveyorError('INVALID_REQUEST', 'scope: expected ids, group or all');
}

function hiddenSelection(sel: DeadSelection): string {
  const h = (n: string, v: string) => `<input type="hidden" name="${n}" value="${esc(v)}">`;
  if (sel.kind === 'ids') return h('scope', 'ids') + sel.refs.map((r) => h('job', refKey(r))).join('');
  return h('scope', sel.kind) + (sel.kind === 'group' ? h('group', sel.fingerprint) : '') + (sel.queue ? h('queue', sel.queue) : '');
}

export function deadLetterRoutes(ctx: BoardContext): Router {
  const router = Router();

  router.get('/dead', async (req: Request, res: Response) => {
    const queue = queryString(req, 'queue');
    const group = queryString(req, 'group');
    const offset = queryInt(req, 'offset', 0);
    const scan = await ctx.data.dead.scan({ queue: queue || undefined, group: group || undefined });
    const viewer = viewerOf(ctx, res);
    const queues = new Set(scan.groups.flatMap((g) => Object.keys(g.byQueue)));
    const sub = scan.totalDead === 0 ? 'Jobs that used up their attempts, with payload, error and stack, ready to replay.' : `${plural(scan.totalDead, 'dead letter')} in ${plural(queues.size, 'queue')}${scan.truncated ? ` · grouped from the newest ${num(scan.scanned)} (the scan stops there)` : ''}`;
    const body = scan.totalDead === 0
      ? `<div class="card">${empty('No dead letters', `A job that fails all its attempts lands here instead of vanishing${queue ? ` (none in "${esc(queue)}")` : ''}. From here you can replay it once the cause is fixed, or drop it.`)}</div>`
      : `${groupsCard(scan, viewer, queue, group)}${lettersCard(scan, viewer, queue, group, offset)}`;
    res.type('html').send(page({ base: viewer.base, title: 'Dead letters', current: '/dead', viewer, flash: takeFlash(req, res) }, `${heading('Dead letters', sub, await queueOptions(ctx, viewer.base, queue))}${body}`));
  });

  router.post('/dead/bulk', async (req: Request, res: Response) => {
    const action = field(req.body, 'action');
    if (action !== 'replay' && action !== 'drop') throw new ConveyorError('INVALID_REQUEST', 'action: expected replay or drop');
    const sel = selectionOf(req.body);
    const viewer = viewerOf(ctx, res);
    const b = esc(viewer.base);
    if (field(req.body, 'confirm') !== '1') {
      // The dry run: what this would touch, nothing changed yet.
      const plan = await ctx.data.dead.plan(sel);
      const verb = action === 'replay' ? 'Replay' : 'Drop';
      const what = action === 'replay' ? 'They go back to their queues with their name, data and options, and run again.' : 'They are deleted for good.';
      const byQueue = Object.entries(plan.byQueue).map(([q, n]) => `<li><b>${num(n)}</b> from ${esc(q)}</li>`).join('');
      const SHOWN = 20;
      const ids = `<details${plan.total <= 5 ? ' open' : ''}><summary>The ${plan.total <= SHOWN ? '' : `first ${SHOWN} of the `}jobs</summary><ul class="mono">${plan.refs
        .slice(0, SHOWN)
        .map((r) => `<li><a href="${esc(deadHref(viewer.base, r.queue, r.id))}">${esc(r.id)}</a> <span class="faint">${esc(r.queue)}</span></li>`)
        .join('')}</ul></details>`;
      const body = plan.total === 0
        ? `<div class="card confirm-box">${empty('Nothing to do', 'None of the selected dead letters exists any more (someone replayed or dropped them).')}<p><a class="btn" href="${b}/dead">Back to dead letters</a></p></div>`
        : `<div class="card confirm-box stack" data-dry-run="${plan.total}">
<p>${what}</p><ul>${byQueue}</ul>${ids}${plan.missing > 0 ? `<p class="warn-text">${plural(plan.missing, 'selected dead letter')} no longer exists and will be skipped.</p>` : ''}
<form method="post" action="${b}/dead/bulk" class="actions">${csrfField(viewer)}${hiddenSelection(sel)}<input type="hidden" name="confirm" value="1">
<button class="btn ${action === 'drop' ? 'danger solid' : 'primary'}" name="action" value="${action}">${verb} ${plural(plan.total, 'dead letter')}</button><a class="btn subtle" href="${b}/dead">Cancel</a></form></div>`;
      res.type('html').send(page({ base: viewer.base, title: `${verb} dead letters`, current: '/dead', viewer }, `${heading(`${verb} ${plural(plan.total, 'dead letter')}?`, 'Dry run: this is what the action would touch. Nothing has changed yet.')}${body}`));
      return;
    }
    const refs = await ctx.data.dead.resolve(sel);
    const r = action === 'replay' ? await ctx.data.dead.replay(refs) : await ctx.data.dead.drop(refs);
    const queues = [...new Set(r.done.map((x) => x.queue))];
    await audit(ctx, req, res, {
      action: `dead.${action}`,
      queue: queues.length === 1 ? queues[0] : undefined,
      jobs: r.done.map(refKey),
      count: r.done.length,
      outcome: 'ok',
      detail: `${sel.kind === 'ids' ? 'selected' : sel.kind === 'group' ? `group ${sel.fingerprint}` : 'all'}${r.missing.length ? `; ${r.missing.length} already gone` : ''}`,
    });
    setFlash(req, res, `${action === 'replay' ? 'Replayed' : 'Dropped'} ${plural(r.done.length, 'dead letter')}${r.missing.length ? ` (${r.missing.length} were already gone)` : ''}.`);
    res.redirect(303, `${viewer.base}/dead`);
  });

  router.use(deadLetterDetailRoutes(ctx));
  return router;
}
