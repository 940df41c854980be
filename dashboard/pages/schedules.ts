/**
 * Cron schedules, on shared/queue/schedules.ts: the list with the next runs
 * and the last one; create / edit with errors shown beside their field;
 * delete, pause, resume, run now.
 *
 *   GET  /schedules · /schedules/new · /schedules/:id/edit · /schedules/preview?cron=&tz=
 *   POST /schedules (create) · /schedules/:id (save) · /schedules/:id/delete|pause|resume|run
 */
import { Router, type Request, type Response } from 'express';
import { ConveyorError, isConveyorError } from '../../shared/errors.ts';
import { nextRuns } from '../../shared/queue/cron.ts';
import type { ScheduleView } from '../../shared/queue/schedules.ts';
import { audit, field, queryString, setFlash, takeFlash, viewerOf, type BoardContext } from '../context.ts';
import { baseOf } from '../mount.ts';
import { badge, esc, time, when } from './format.ts';
import { canWrite, csrfField, empty, heading, page, type Viewer } from './layout.ts';

interface FormValues {
  id: string;
  queue: string;
  name: string;
  cron: string;
  tz: string;
  data: string;
  attempts: string;
}

type FormErrors = Partial<Record<keyof FormValues | 'general', string>>;

function smallAction(viewer: Viewer, id: string, action: string, label: string, cls = '', confirm = ''): string {
  return `<form method="post" action="${esc(viewer.base)}/schedules/${encodeURIComponent(id)}/${action}" class="inline"${confirm ? ` data-confirm="${esc(confirm)}"` : ''}>${csrfField(viewer)}<button class="btn small ${cls}">${esc(label)}</button></form>`;
}

function row(s: ScheduleView, viewer: Viewer): string {
  const write = canWrite(viewer);
  const fromFile = s.managedBy === 'config';
  const actions = write
    ? [
        fromFile ? '' : `<a class="btn small" href="${esc(viewer.base)}/schedules/${encodeURIComponent(s.id)}/edit">Edit</a>`,
        s.paused ? smallAction(viewer, s.id, 'resume', 'Resume', 'primary') : smallAction(viewer, s.id, 'pause', 'Pause'),
        smallAction(viewer, s.id, 'run', 'Run now', '', `Enqueue one "${s.name}" job to ${s.queue} now?`),
        fromFile ? '' : smallAction(viewer, s.id, 'delete', 'Delete', 'danger', `Delete schedule ${s.id}? Jobs already enqueued stay.`),
      ].join('')
    : '';
  const next = s.nextRuns.length === 0
    ? '<span class="faint">paused</span>'
    : `${time(s.nextRuns[0])}<ol class="runs" aria-label="next ${s.nextRuns.length} runs">${s.nextRuns.map((r) => `<li>${when(r)}</li>`).join('')}</ol>`;
  return `<tr data-schedule="${esc(s.id)}">
<td><b>${esc(s.id)}</b>${fromFile ? ` ${badge('SCHEDULES file', 'info', 'Defined in the SCHEDULES file: edit it there')}` : ''}<span class="secondary">${esc(s.queue)} · <span class="mono">${esc(s.name)}</span></span></td>
<td><code>${esc(s.cron)}</code><span class="secondary">${esc(s.tz)}</span></td>
<td>${next}</td>
<td class="nowrap">${time(s.lastRunAt)}</td>
<td>${s.paused ? badge('paused', 'warn') : badge('active', 'good')}</td>
<td class="actions-cell"><div class="row-actions">${actions}</div></td></tr>`;
}

function listBody(list: ScheduleView[], viewer: Viewer): string {
  if (list.length === 0) {
    return `<div class="card">${empty('No schedules', `A schedule enqueues a job on a cron, e.g. <code>0 3 * * *</code> for 03:00 every day. ${canWrite(viewer) ? `<a href="${esc(viewer.base)}/schedules/new">Create one</a>, or` : 'Create one with'} <code>PUT /v1/schedules/:id</code> or the <code>SCHEDULES</code> file.`)}</div>`;
  }
  return `<div class="card flush"><div class="table-wrap"><table class="schedules"><thead><tr><th>Schedule</th><th>Cron</th><th>Next run</th><th>Last run</th><th>State</th><th></th></tr></thead>
<tbody>${list.map((s) => row(s, viewer)).join('')}</tbody></table></div></div>`;
}

function input(name: keyof FormValues, label: string, v: FormValues, errors: FormErrors, extra = '', help = ''): string {
  const err = errors[name];
  return `<div class="field${err ? ' invalid' : ''}"><label for="f-${name}">${esc(label)}</label><input type="text" id="f-${name}" name="${name}" value="${esc(v[name])}"${extra}${err ? ` aria-invalid="true" aria-describedby="e-${name}"` : ''}>${
    err ? `<div class="error" id="e-${name}" role="alert" data-error-for="${name}">${esc(err)}</div>` : ''
  }${help}</div>`;
}

function formPage(viewer: Viewer, v: FormValues, errors: FormErrors, isNew: boolean): string {
  const b = esc(viewer.base);
  const action = isNew ? `${viewer.base}/schedules` : `${viewer.base}/schedules/${encodeURIComponent(v.id)}`;
  let preview = '';
  try {
    if (v.cron && !errors.cron && !errors.tz) preview = `Next runs: ${nextRuns(v.cron, v.tz || 'UTC', 5).map((r) => r.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')).join(' · ')}`;
  } catch {
    preview = '';
  }
  const body = `<form method="post" action="${esc(action)}" class="card" novalidate>${csrfField(viewer)}
${errors.general ? `<div class="flash bad" role="alert">${esc(errors.general)}</div>` : ''}
<div class="form-grid">
${isNew ? input('id', 'Schedule id', v, errors, ' required pattern="[A-Za-z0-9._-]{1,128}"', '<div class="help">Letters, digits, . _ - (unique)</div>') : `<input type="hidden" name="id" value="${esc(v.id)}">`}
${input('queue', 'Queue', v, errors, ' required')}
${input('name', 'Job name', v, errors, ' required', '<div class="help">The handler that runs, e.g. <code>send-report</code></div>')}
${input('cron', 'Cron expression', v, errors, ' required data-cron-input spellcheck="false"', `<div class="help" data-cron-preview>${esc(preview || 'minute hour day-of-month month day-of-week, or 6 fields with seconds first')}</div>`)}
${input('tz', 'Time zone', v, errors, ' data-tz-input', '<div class="help">IANA name, e.g. Europe/Paris; default UTC</div>')}
${input('attempts', 'Attempts per run', v, errors, ' inputmode="numeric"', '<div class="help">Optional; default 3</div>')}
</div>
<div class="field${errors.data ? ' invalid' : ''}"><label for="f-data">Job data (JSON)</label><textarea id="f-data" name="data" spellcheck="false">${esc(v.data)}</textarea>${errors.data ? `<div class="error" role="alert" data-error-for="data">${esc(errors.data)}</div>` : ''}</div>
<div class="actions"><button class="btn primary" type="submit">${isNew ? 'Create schedule' : 'Save changes'}</button><a class="btn subtle" href="${b}/schedules">Cancel</a></div>
</form>`;
  return page({ base: viewer.base, title: isNew ? 'New schedule' : `Edit ${v.id}`, current: '/schedules', viewer }, `<p class="muted"><a href="${b}/schedules">← Schedules</a></p>${heading(isNew ? 'New schedule' : `Edit schedule ${v.id}`)}${body}`);
}

function valuesOf(s: ScheduleView): FormValues {
  return { id: s.id, queue: s.queue, name: s.name, cron: s.cron, tz: s.tz, data: s.data === null ? '' : JSON.stringify(s.data, null, 2), attempts: s.opts.attempts === undefined ? '' : String(s.opts.attempts) };
}

/** Which field a validation error belongs beside. */
function errorsOf(err: ConveyorError): FormErrors {
  const d = err.details ?? {};
  const msg = err.message;
  if (err.code === 'INVALID_CRON') return { [d.field === 'tz' ? 'tz' : 'cron']: msg.replace(/^(cron|tz): /, '') };
  if (err.code === 'INVALID_QUEUE_NAME') return { queue: msg };
  if (err.code === 'INVALID_JOB_NAME') return { name: msg };
  if (err.code === 'PAYLOAD_TOO_LARGE') return { data: msg };
  const path = String(d.path ?? '');
  if (path.startsWith('opts.attempts')) return { attempts: msg };
  if (/^(queue|name|cron|tz|data)$/.test(path)) return { [path]: msg };
  if (err.code === 'INVALID_REQUEST' && /schedule id/.test(msg)) return { id: msg };
  return { general: msg };
}

export function scheduleRoutes(ctx: BoardContext): Router {
  const router = Router();
  const { schedules } = ctx.data;

  router.get('/schedules', async (req: Request, res: Response) => {
    const viewer = viewerOf(ctx, res);
    const list = await schedules.list();
    const actions = canWrite(viewer) ? `<a class="btn primary" href="${esc(viewer.base)}/schedules/new">New schedule</a>` : '';
    res.type('html').send(page({ base: viewer.base, title: 'Schedules', current: '/schedules', viewer, flash: takeFlash(req, res) }, `${heading('Schedules', 'Cron schedules that enqueue jobs. Times in the list are relative; hover for the absolute time.', actions)}${listBody(list, viewer)}`));
  });

  router.get('/schedules/preview', (req: Request, res: Response) => {
    try {
      res.json({ nextRuns: nextRuns(queryString(req, 'cron'), queryString(req, 'tz') || 'UTC', 5) });
    } catch (err) {
      res.json({ error: isConveyorError(err) ? err.message.replace(/^(cron|tz): /, '') : 'invalid' });
    }
  });

  router.get('/schedules/new', (_req: Request, res: Response) => {
    res.type('html').send(formPage(viewerOf(ctx, res), { id: '', queue: 'default', name: '', cron: '0 * * * *', tz: 'UTC', data: '', attempts: '' }, {}, true));
  });

  router.get('/schedules/:id/edit', async (req: Request, res: Response) => {
    const s = await schedules.get(String(req.params.id));
    res.type('html').send(formPage(viewerOf(ctx, res), valuesOf(s), {}, false));
  });

  const save = (isNew: boolean) => async (req: Request, res: Response) => {
    const v: FormValues = {
      id: isNew ? field(req.body, 'id') : String(req.params.id),
      queue: field(req.body, 'queue'),
      name: field(req.body, 'name'),
      cron: field(req.body, 'cron'),
      tz: field(req.body, 'tz'),
      data: field(req.body, 'data'),
      attempts: field(req.body, 'attempts'),
    };
    const fail = (errors: FormErrors) => {
      res.status(422).type('html').send(formPage(viewerOf(ctx, res), v, errors, isNew));
    };
    let data: unknown = null;
    if (v.data !== '') {
      try {
        data = JSON.parse(v.data);
      } catch (err) {
        fail({ data: `Not valid JSON: ${(err as Error).message}` });
        return;
      }
    }
    if (v.attempts !== '' && !/^\d{1,3}$/.test(v.attempts)) {
      fail({ attempts: 'A whole number of attempts, e.g. 3' });
      return;
    }
    if (isNew && (await schedules.store.read(v.id).catch(() => undefined))) {
      fail({ id: `A schedule "${v.id}" exists already; edit it instead.` });
      return;
    }
    const input = { queue: v.queue, name: v.name, cron: v.cron, tz: v.tz || undefined, data, ...(v.attempts ? { opts: { attempts: Number(v.attempts) } } : {}) };
    try {
      const r = await schedules.put(v.id, input);
      await audit(ctx, req, res, { action: r.created ? 'schedule.create' : 'schedule.update', target: v.id, queue: v.queue, outcome: 'ok', detail: `${v.cron} ${v.tz || 'UTC'}` });
      setFlash(req, res, `${r.created ? 'Created' : 'Saved'} schedule "${v.id}". Next run ${r.schedule.nextRuns[0]?.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') ?? '—'}.`);
      res.redirect(303, `${baseOf(res)}/schedules`);
    } catch (err) {
      if (!isConveyorError(err) || err.status >= 500) throw err;
      await audit(ctx, req, res, { action: isNew ? 'schedule.create' : 'schedule.update', target: v.id, outcome: 'refused', detail: err.message });
      fail(errorsOf(err));
    }
  };
  router.post('/schedules', save(true));
  router.post('/schedules/:id', save(false));

  router.post('/schedules/:id/:action', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const action = String(req.params.action);
    let message: string;
    if (action === 'delete') {
      await schedules.remove(id);
      message = `Deleted schedule "${id}".`;
    } else if (action === 'pause') {
      await schedules.pause(id);
      message = `Paused "${id}": it enqueues nothing until resumed.`;
    } else if (action === 'resume') {
      const s = await schedules.resume(id);
      message = `Resumed "${id}"; next run ${s.nextRuns[0] ?? '—'}.`;
    } else if (action === 'run') {
      const r = await schedules.runNow(id);
      message = `Enqueued job ${r.id} to ${r.queue} now.`;
    } else {
      throw new ConveyorError('NOT_FOUND', `no schedule action "${action}"`);
    }
    await audit(ctx, req, res, { action: `schedule.${action}`, target: id, outcome: 'ok' });
    setFlash(req, res, message);
    res.redirect(303, `${baseOf(res)}/schedules`);
  });

  return router;
}
