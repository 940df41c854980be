/**
 * The dashboard's last two handlers: no page at that path (404), and every
 * error a page or gate raised, as an HTML page for browsers and JSON for
 * bull-board's API and scripts. Their links lead to the overview under the
 * base the request came in under.
 */
import type { NextFunction, Request, Response } from 'express';
import { ConveyorError, isConveyorError } from '../shared/errors.ts';
import { toRedisError } from '../shared/redis/connections.ts';
import { isRedisFailure } from '../shared/redis/failures.ts';
import { wantsJson } from './gates.ts';
import { stateOf } from './mount.ts';
import { audit, viewerOf, type BoardContext } from './context.ts';
import { esc, page } from './pages/layout.ts';

/** Browsers ask for text/html; fetch calls and bull-board's API get JSON. */
function wantsHtml(req: Request): boolean {
  return !wantsJson(req) && (req.headers.accept ?? '').includes('text/html');
}

/** body-parser's errors carry a status; Redis outages are 503; anything else unexpected is a bug. */
function toConveyorError(err: unknown, redisLabel: string): ConveyorError {
  if (isConveyorError(err)) return err;
  if (isRedisFailure(err)) return toRedisError(err, redisLabel);
  const status = (err as { status?: unknown } | null)?.status;
  if (status === 413) return new ConveyorError('PAYLOAD_TOO_LARGE', 'the form is too large');
  if (typeof status === 'number' && status >= 400 && status < 500) return new ConveyorError('INVALID_REQUEST', (err as Error).message);
  return new ConveyorError('INTERNAL', 'unexpected error; the log has the details');
}

/** The navigation only for someone the gate let in. */
function viewerIfAny(ctx: BoardContext, res: Response) {
  return stateOf(res).session ? viewerOf(ctx, res) : undefined;
}

export function notFound(ctx: BoardContext) {
  return (req: Request, res: Response): void => {
    const err = new ConveyorError('NOT_FOUND', `no page at ${req.method} ${req.path}`);
    const { base } = stateOf(res);
    if (wantsHtml(req)) res.status(404).type('html').send(page({ base, title: 'Not found', viewer: viewerIfAny(ctx, res) }, `<div class="card"><h1>Not found</h1><p class="muted">${esc(err.message)}</p><p><a href="${esc(base)}/">Back to the overview</a></p></div>`));
    else res.status(404).json({ error: { code: err.code, message: err.message } });
  };
}

// Express 5 passes rejected async handlers here.
export function errorPage(ctx: BoardContext, redisLabel: string) {
  return async (err: unknown, req: Request, res: Response, _next: NextFunction): Promise<void> => {
    const ce = toConveyorError(err, redisLabel);
    if (ce.code === 'INTERNAL') ctx.log.error({ err: err instanceof Error ? err.stack : String(err), path: req.path }, 'request failed');
    if (ce.code === 'READ_ONLY_USER' || ce.code === 'CSRF_TOKEN_INVALID') {
      await audit(ctx, req, res, { action: `refused.${ce.code === 'READ_ONLY_USER' ? 'read-only' : 'csrf'}`, target: `${req.method} ${req.path}`, outcome: 'refused' });
    }
    if (ce.status === 503) res.set('Retry-After', '5');
    if (wantsHtml(req)) {
      const title = ce.status === 503 ? 'Redis is unavailable' : ce.status === 401 ? 'Not signed in' : ce.status === 403 ? 'Not allowed' : ce.status === 404 ? 'Not found' : 'Something went wrong';
      const { base } = stateOf(res);
      // Nobody signed in: the overview would answer the same.
      const back = ce.status === 401 ? '' : `<p><a href="${esc(base)}/">Back to the overview</a></p>`;
      res.status(ce.status).type('html').send(page({ base, title, viewer: viewerIfAny(ctx, res) }, `<div class="card"><h1>${esc(title)}</h1><p class="bad-text">${esc(ce.message)}</p><p class="faint">${esc(ce.code)}</p>${back}</div>`));
    } else {
      res.status(ce.status).json({ error: { code: ce.code, message: ce.message } });
    }
  };
}
