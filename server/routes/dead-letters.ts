/** Dead letters: list (newest first), replay one or all, drop one or all. */
import { Router } from 'express';
import type { AppDeps } from '../app.ts';
import { requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { byId, idParam, paging, queueParam } from '../request-input.ts';

export function deadLetterRoutes(deps: AppDeps): Router {
  const { inspector } = deps;
  const dead = inspector.deadLetters;
  const r = Router();

  r.get('/queues/:queue/dead', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    const { offset, limit } = paging(req);
    await inspector.requireQueue(queue);
    res.json(await dead.list(queue, offset, limit));
  });

  r.post('/queues/:queue/dead/retry', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    await inspector.requireQueue(queue);
    res.json({ replayed: await dead.replayAll(queue) });
  });

  r.post('/queues/:queue/dead/:id/retry', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    const id = idParam(req, 'DEAD_LETTER_NOT_FOUND');
    await inspector.requireQueue(queue);
    await byId(dead.replay(queue, id), 'DEAD_LETTER_NOT_FOUND', id, queue);
    res.json({ replayed: 1 });
  });

  r.delete('/queues/:queue/dead', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    await inspector.requireQueue(queue);
    res.json({ dropped: await dead.dropAll(queue) });
  });

  r.delete('/queues/:queue/dead/:id', requireScope('admin'), async (req, res) => {
    const queue = queueParam(req);
    const id = idParam(req, 'DEAD_LETTER_NOT_FOUND');
    await inspector.requireQueue(queue);
    await byId(dead.drop(queue, id), 'DEAD_LETTER_NOT_FOUND', id, queue);
    res.json({ dropped: 1 });
  });

  r.all('/queues/:queue/dead', methodNotAllowed('GET, DELETE'));
  r.all('/queues/:queue/dead/retry', methodNotAllowed('POST'));
  r.all('/queues/:queue/dead/:id/retry', methodNotAllowed('POST'));
  r.all('/queues/:queue/dead/:id', methodNotAllowed('DELETE'));
  return r;
}
