/**
 * Cron schedules: /v1/schedules. Mount behind authenticate():
 *   app.use('/v1/schedules', schedulesRouter({ schedules, config }))
 * or append scheduleRoutes to V1_ROUTES (it mounts itself at /schedules).
 * Scopes: reading is `read`; create, replace, delete, pause and resume are
 * `admin`; running a schedule now is `enqueue` (it enqueues one job).
 */
import { Router, type Request } from 'express';
import type { Config } from '../../shared/config/config.ts';
import { ConveyorError } from '../../shared/errors.ts';
import { assertQueueName } from '../../shared/queue/producer.ts';
import { assertScheduleId } from '../../shared/queue/schedule-input.ts';
import type { Schedules } from '../../shared/queue/schedules.ts';
import type { Response } from 'express';
import type { Scope } from '../../shared/config/config.ts';
import { allowsAll, assertQueueAllowed, principalOf, queueFilterOf, requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { bodyObject, jsonBody } from '../request-input.ts';
import { apiBase } from '../app.ts';

export interface ScheduleRouteDeps {
  schedules: Schedules;
  config: Pick<Readonly<Config>, 'maxPayloadBytes'>;
}

function scheduleId(req: Request): string {
  const id = req.params.id;
  assertScheduleId(id);
  return id;
}

/** ?queue= narrows the list to one queue. */
function queueFilter(req: Request): string | undefined {
  const q: unknown = req.query.queue;
  if (q === undefined || q === '') return undefined;
  if (typeof q !== 'string') throw new ConveyorError('INVALID_REQUEST', 'query parameter "queue" is given more than once');
  assertQueueName(q);
  return q;
}

/**
 * A token whose scope is limited to some queues (scope@pattern) acts only on
 * schedules of those queues: look the schedule's queue up first. Unlimited
 * tokens skip the lookup.
 */
async function assertScheduleAllowed(schedules: Schedules, res: Response, scope: Scope, id: string): Promise<void> {
  if (allowsAll(principalOf(res), scope)) return;
  const s = await schedules.get(id);
  assertQueueAllowed(res, scope, s.queue);
}

const location = (res: Response, id: string) => `${apiBase(res)}/v1/schedules/${encodeURIComponent(id)}`;

/** The routes, relative to where they are mounted (/v1/schedules). */
export function schedulesRouter(deps: ScheduleRouteDeps): Router {
  const { schedules } = deps;
  const r = Router();
  // A schedule's data is held to MAX_PAYLOAD_BYTES by Schedules; the body may carry a little more around it.
  const body = jsonBody(deps.config.maxPayloadBytes + 64 * 1024);

  r.get('/', requireScope('read'), async (req, res) => {
    const visible = queueFilterOf(res, 'read');
    res.json({ schedules: (await schedules.list({ queue: queueFilter(req) })).filter((s) => visible(s.queue)) });
  });

  r.get('/:id', requireScope('read'), async (req, res) => {
    const s = await schedules.get(scheduleId(req));
    assertQueueAllowed(res, 'read', s.queue);
    res.json(s);
  });

  r.put('/:id', requireScope('admin'), body, async (req, res) => {
    const id = scheduleId(req);
    const input = bodyObject(req);
    if (!allowsAll(principalOf(res), 'admin')) {
      // Both the queue it names and the queue it has now (if any) must be the token's.
      if (typeof input.queue === 'string') assertQueueAllowed(res, 'admin', input.queue);
      const old = await schedules.get(id).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'SCHEDULE_NOT_FOUND') return undefined;
        throw err;
      });
      if (old) assertQueueAllowed(res, 'admin', old.queue);
    }
    const { schedule, created } = await schedules.put(id, input);
    if (created) res.status(201).location(location(res, id));
    res.json(schedule);
  });

  r.delete('/:id', requireScope('admin'), async (req, res) => {
    const id = scheduleId(req);
    await assertScheduleAllowed(schedules, res, 'admin', id);
    await schedules.remove(id);
    res.json({ id, deleted: true });
  });

  r.post('/:id/pause', requireScope('admin'), async (req, res) => {
    const id = scheduleId(req);
    await assertScheduleAllowed(schedules, res, 'admin', id);
    res.json(await schedules.pause(id));
  });

  r.post('/:id/resume', requireScope('admin'), async (req, res) => {
    const id = scheduleId(req);
    await assertScheduleAllowed(schedules, res, 'admin', id);
    res.json(await schedules.resume(id));
  });

  r.post('/:id/run', requireScope('enqueue'), async (req, res) => {
    const id = scheduleId(req);
    await assertScheduleAllowed(schedules, res, 'enqueue', id);
    const job = await schedules.runNow(id);
    res.status(201).location(`${apiBase(res)}/v1/queues/${encodeURIComponent(job.queue)}/jobs/${encodeURIComponent(job.id)}`);
    res.json({ id: job.id, queue: job.queue, name: job.name, schedule: id });
  });

  r.all('/', methodNotAllowed('GET'));
  r.all('/:id', methodNotAllowed('GET, PUT, DELETE'));
  r.all('/:id/pause', methodNotAllowed('POST'));
  r.all('/:id/resume', methodNotAllowed('POST'));
  r.all('/:id/run', methodNotAllowed('POST'));
  return r;
}

/** The same routes for a router mounted at /v1 (server/routes/index.ts V1_ROUTES). */
export function scheduleRoutes(deps: ScheduleRouteDeps): Router {
  return Router().use('/schedules', schedulesRouter(deps));
}
