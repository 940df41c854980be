/** Job history (HISTORY_URL): search over jobs, one job's timeline. HISTORY_NOT_CONFIGURED (404) without it. */
import { Router, type Request } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import type { HistorySearch } from '../../shared/history/store.ts';
import type { AppDeps } from '../app.ts';
import { allowsAll, assertQueueAllowed, principalOf, requireScope } from '../auth.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { idParam, queueParam } from '../request-input.ts';

const PARAMS = ['queue', 'name', 'state', 'key', 'since', 'until', 'q', 'limit', 'cursor'] as const;

function bad(name: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_REQUEST', `query parameter "${name}" ${why}`, { parameter: name });
}

/** ?queue=&name=&state=&key=&since=&until=&q=&data.<path>=&limit=&cursor= → a search; unknown or repeated parameters are 400 naming them. */
export function historyQuery(req: Request): HistorySearch {
  const search: Record<string, unknown> = {};
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v !== 'string') throw bad(k, 'is given more than once (or as an object)');
    if (k.startsWith('data.')) data[k.slice(5)] = v;
    else if ((PARAMS as readonly string[]).includes(k)) search[k] = v;
    else throw bad(k, `is not one this route takes: ${PARAMS.join(', ')}, data.<path>`);
  }
  if (search.limit !== undefined) {
    const raw = String(search.limit);
    if (!/^\d{1,6}$/.test(raw)) throw bad('limit', `must be a whole number from 1 to 500, not ${JSON.stringify(raw)}`);
    search.limit = Number(raw);
  }
  return { ...(search as HistorySearch), data };
}

export function historyRoutes(deps: AppDeps): Router {
  const r = Router();
  const store = () => {
    if (!deps.history) throw new ConveyorError('HISTORY_NOT_CONFIGURED', 'no job history is kept here: set HISTORY_URL=postgres://… (docs/operations.md "History")');
    return deps.history();
  };

  r.get('/history', requireScope('read'), async (req, res) => {
    const search = historyQuery(req);
    // A token limited to some queues reads the history of those only: it names one.
    if (typeof search.queue === 'string' && search.queue !== '') assertQueueAllowed(res, 'read', search.queue);
    else if (!allowsAll(principalOf(res), 'read')) throw new ConveyorError('FORBIDDEN', 'this token may read only some queues: name one with ?queue=', { scope: 'read' });
    res.json(await (await store()).search(search));
  });

  r.get('/queues/:queue/jobs/:id/timeline', requireScope('read'), async (req, res) => {
    const queue = queueParam(req);
    const id = idParam(req);
    const t = await (await store()).timeline(queue, id);
    if (!t) throw new ConveyorError('JOB_NOT_FOUND', `the history has no job "${id}" in queue "${queue}"`, { queue, id });
    res.json(t);
  });

  r.all('/history', methodNotAllowed('GET'));
  r.all('/queues/:queue/jobs/:id/timeline', methodNotAllowed('GET'));
  return r;
}
