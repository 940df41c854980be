/** Queues: list with counts, one queue, pause and resume. */
import { Router } from 'express';
import type { AppDeps } from '../app.ts';
import { queueFilterOf, requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { queueParam } from '../request-input.ts';

export function queueRoutes(deps: AppDeps): Router {
  const { inspector } = deps;
  const r = Router();

  r.get('/queues', requireScope('read'), async (_req, res) => {
    // A token with read@pattern sees the queues its pattern matches.
    const visible = queueFilterOf(res, 'read');
    res.json({ queues: (await inspector.listQueues()).filter((q) => visible(q.name)) });
  });

  r.get('/queues/:queue', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    await inspector.requireQueue(queue);
    res.json(await inspector.summary(queue));
  });

  r.post('/queues/:queue/pause', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    await inspector.pause(queue);
    res.json(await inspector.summary(queue));
  });

  r.post('/queues/:queue/resume', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    await inspector.resume(queue);
    res.json(await inspector.summary(queue));
  });

  r.all('/queues', methodNotAllowed('GET'));
  r.all('/queues/:queue', methodNotAllowed('GET'));
  r.all('/queues/:queue/pause', methodNotAllowed('POST'));
  r.all('/queues/:queue/resume', methodNotAllowed('POST'));
  return r;
}
