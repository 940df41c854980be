/**
 * Batches: create (with up to 10,000 jobs), add to an open one, seal, read.
 * A token needs the scope on every queue a request touches (its jobs'
 * queues and its callbacks' queues; for a read or a seal, the batch's own).
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { ConveyorError } from '../../shared/errors.ts';
import { describeZodError } from '../../shared/queue/job-input.ts';
import { isValidQueueName } from '../../shared/queue/names.ts';
import { BATCH_PAYLOAD_FACTOR, assertBatchId } from '../../shared/batches/input.ts';
import { apiBase, type AppDeps } from '../app.ts';
import { assertQueueAllowed, requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { bodyObject, jsonBody } from '../request-input.ts';
import type { Scope } from '../../shared/config/config.ts';

const addBody = z.strictObject({ jobs: z.unknown() });

/** The request body limit: 16 × MAX_PAYLOAD_BYTES of data plus names and options of 10,000 jobs. */
export function batchBodyLimitBytes(maxPayloadBytes: number): number {
  return maxPayloadBytes * BATCH_PAYLOAD_FACTOR + 8 * 1024 * 1024;
}

/** Queues named by the jobs and callbacks of a body (the invalid ones are left to validation: 400). */
function queuesOf(body: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const add = (v: unknown) => {
    const q = (v as { queue?: unknown } | null)?.queue ?? 'default';
    if (isValidQueueName(q)) out.add(q);
  };
  if (Array.isArray(body.jobs)) for (const j of body.jobs) add(j);
  for (const k of ['onSuccess', 'onComplete', 'onDeath']) if (body[k] !== undefined) add(body[k]);
  return out;
}

function allowAll(res: Response, scope: Scope, queues: Iterable<string>): void {
  for (const q of queues) assertQueueAllowed(res, scope, q);
}

function batchParam(req: Request): string {
  const id = req.params.id;
  assertBatchId(id);
  return id;
}

export function batchRoutes(deps: AppDeps): Router {
  const r = Router();
  const batches = deps.batches;
  if (!batches) return r;
  const body = jsonBody(batchBodyLimitBytes(deps.config.maxPayloadBytes), deps.config.maxJsonDepth);

  r.post('/batches', requireScope('enqueue'), body, async (req, res) => {
    const spec = bodyObject(req);
    allowAll(res, 'enqueue', queuesOf(spec));
    const created = await batches.create(spec);
    deps.metrics.countEnqueue('created', created.total);
    res.location(`${apiBase(res)}/v1/batches/${encodeURIComponent(created.id)}`);
    res.status(201).json(created);
  });

  r.post('/batches/:id/jobs', requireScope('enqueue'), body, async (req, res) => {
    const id = batchParam(req);
    const parsed = addBody.safeParse(bodyObject(req));
    if (!parsed.success) throw new ConveyorError('INVALID_REQUEST', describeZodError(parsed.error));
    allowAll(res, 'enqueue', queuesOf({ jobs: parsed.data.jobs }));
    // The batch's own queues too: adding to someone else's batch is acting on it.
    allowAll(res, 'enqueue', (await batches.get(id)).queues);
    const added = await batches.add(id, parsed.data.jobs);
    deps.metrics.countEnqueue('created', added.ids.length);
    res.status(201).json(added);
  });

  r.post('/batches/:id/seal', requireScope('enqueue'), async (req, res) => {
    const id = batchParam(req);
    allowAll(res, 'enqueue', (await batches.get(id)).queues);
    res.json(await batches.seal(id));
  });

  r.get('/batches/:id', requireScope('read'), async (req, res) => {
    const view = await batches.get(batchParam(req));
    allowAll(res, 'read', view.queues);
    res.json(view);
  });

  r.all('/batches', methodNotAllowed('POST'));
  r.all('/batches/:id', methodNotAllowed('GET'));
  r.all('/batches/:id/jobs', methodNotAllowed('POST'));
  r.all('/batches/:id/seal', methodNotAllowed('POST'));
  return r;
}

/** Workflows: create (a graph of steps as JSON), read (each step's state). */
export function workflowRoutes(deps: AppDeps): Router {
  const r = Router();
  const workflows = deps.workflows;
  if (!workflows) return r;
  const body = jsonBody(batchBodyLimitBytes(deps.config.maxPayloadBytes), deps.config.maxJsonDepth);

  r.post('/workflows', requireScope('enqueue'), body, async (req, res) => {
    const spec = bodyObject(req);
    const steps = spec.steps && typeof spec.steps === 'object' && !Array.isArray(spec.steps) ? Object.values(spec.steps as Record<string, unknown>) : [];
    allowAll(res, 'enqueue', queuesOf({ ...spec, jobs: steps }));
    const created = await workflows.create(spec);
    deps.metrics.countEnqueue('created', Object.keys(created.steps).length);
    res.location(`${apiBase(res)}/v1/workflows/${encodeURIComponent(created.id)}`);
    res.status(201).json(created);
  });

  r.get('/workflows/:id', requireScope('read'), async (req, res) => {
    const view = await workflows.get(batchParam(req));
    allowAll(res, 'read', view.queues);
    res.json(view);
  });

  r.all('/workflows', methodNotAllowed('POST'));
  r.all('/workflows/:id', methodNotAllowed('GET'));
  return r;
}
