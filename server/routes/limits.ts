/** Flow limits of a queue: GET (with what they hold back), PUT (replace), DELETE (remove). */
import { Router } from 'express';
import type { AppDeps } from '../app.ts';
import { requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { jsonBody, bodyObject, queueParam } from '../request-input.ts';

export function limitsRoutes(deps: AppDeps): Router {
  const r = Router();
  const flow = deps.flow;
  if (!flow) return r;
  const body = jsonBody(64 * 1024 + 1000 * 300, deps.config.maxJsonDepth);

  r.get('/queues/:queue/limits', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    await deps.inspector.requireQueue(queue);
    res.json(await flow.status(queue));
  });

  // Replaces every limit (absent fields: no limit). The queue need not exist yet: limits may come before the first job.
  r.put('/queues/:queue/limits', requireScope('admin'), body, async (req, res) => {
    const queue = queueParam(req);
    await flow.store.set(queue, bodyObject(req));
    res.json(await flow.status(queue));
  });

  r.delete('/queues/:queue/limits', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    await deps.inspector.requireQueue(queue);
    await flow.store.clear(queue);
    res.json(await flow.status(queue));
  });

  r.all('/queues/:queue/limits', methodNotAllowed('GET, PUT, DELETE'));
  return r;
}
