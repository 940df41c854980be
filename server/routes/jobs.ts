/** Enqueue (single and bulk), one job, jobs by state. */
import { Router } from 'express';
import { z } from 'zod';
import { ConveyorError, isConveyorError } from '../../shared/errors.ts';
import { describeZodError } from '../../shared/queue/job-input.ts';
import type { Metrics } from '../../shared/metrics.ts';
import { apiBase, type AppDeps } from '../app.ts';
import { requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { bodyObject, byId, idParam, jsonBody, paging, queueParam, stateParam } from '../request-input.ts';
import { jobFromHistory } from '../../shared/history/job-view.ts';

const bulkBody = z.strictObject({ jobs: z.unknown() });

/**
 * The largest request body: a bulk may carry 4 × MAX_PAYLOAD_BYTES of data
 * (the Producer's own limit) plus names and options for up to 1000 jobs.
 * The per-job data limit is the Producer's to enforce.
 */
export function bodyLimitBytes(maxPayloadBytes: number): number {
  return maxPayloadBytes * 4 + 1024 * 1024;
}

/** Counts what happened to the jobs of a request that failed. */
function countFailure(metrics: Metrics, err: unknown, jobs: number): void {
  metrics.countEnqueue(isConveyorError(err) && err.status < 500 ? 'rejected' : 'failed', jobs);
}

export function jobRoutes(deps: AppDeps): Router {
  const { producer, inspector, metrics } = deps;
  const r = Router();
  const body = jsonBody(bodyLimitBytes(deps.config.maxPayloadBytes), deps.config.maxJsonDepth);

  r.post('/queues/:queue/jobs', requireScope('enqueue'), body, async (req, res) => {
    try {
      const queue = queueParam(req);
      const result = await producer.enqueue(queue, bodyObject(req));
      metrics.countEnqueue(result.duplicate ? 'duplicate' : 'created');
      const { id, name } = result;
      res.location(`${apiBase(res)}/v1/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(id)}`);
      if (result.duplicate) res.status(200).json({ id, queue, name, duplicate: true });
      else if (result.throttled) res.status(200).json({ id, queue, name, throttled: true });
      else res.status(201).json({ id, queue, name });
    } catch (err) {
      countFailure(metrics, err, 1);
      throw err;
    }
  });

  r.post('/queues/:queue/jobs/bulk', requireScope('enqueue'), body, async (req, res) => {
    let offered = 1;
    try {
      const queue = queueParam(req);
      const parsed = bulkBody.safeParse(bodyObject(req));
      if (!parsed.success) throw new ConveyorError('INVALID_REQUEST', describeZodError(parsed.error));
      if (Array.isArray(parsed.data.jobs)) offered = Math.max(1, parsed.data.jobs.length);
      const { ids } = await producer.enqueueBulk(queue, parsed.data.jobs);
      metrics.countEnqueue('created', ids.length);
      res.status(201).json({ ids });
    } catch (err) {
      countFailure(metrics, err, offered);
      throw err;
    }
  });

  r.get('/queues/:queue/jobs', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    const state = stateParam(req);
    const { offset, limit } = paging(req);
    await inspector.requireQueue(queue);
    res.json(await inspector.listJobs(queue, state, offset, limit));
  });

  r.get('/queues/:queue/jobs/:id', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    const id = idParam(req);
    await inspector.requireQueue(queue);
    let job = await byId(inspector.getJob(queue, id), 'JOB_NOT_FOUND', id, queue);
    // Trimmed from Redis after it finished: the history's record of it, if HISTORY_URL keeps one (source "history").
    if (!job && deps.history) job = await deps.history().then((store) => jobFromHistory(store, queue, id)).catch(() => undefined);
    // A hash that is not a job (no name) is not one either.
    if (!job || typeof job.name !== 'string') throw new ConveyorError('JOB_NOT_FOUND', `no job "${id}" in queue "${queue}"`);
    res.json(job);
  });

  r.all('/queues/:queue/jobs', methodNotAllowed('GET, POST'));
  r.all('/queues/:queue/jobs/bulk', methodNotAllowed('POST'));
  r.all('/queues/:queue/jobs/:id', methodNotAllowed('GET'));
  return r;
}
