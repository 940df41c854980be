/**
 * The dashboard app: Conveyor's pages plus bull-board, behind an optional
 * login. createApp builds it (tests mount it on port 0); main.ts runs it.
 *
 *   /healthz          always open: the process is alive
 *   /login, /logout   when a user and password are configured
 *   /                 overview: every queue with its counts
 *   /queues           bull-board (its JSON API under /queues/api)
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { ConveyorError, isConveyorError } from '#shared/errors.ts';
import { toRedisError } from '#shared/redis/connections.ts';
import type { Inspector } from '#shared/queue/inspector.ts';
import type { QueueSet } from '#shared/queue/queue-set.ts';
import type { Logger } from '#shared/log.ts';
import { SessionKeeper, requireSession, type Credentials } from './auth.ts';
import { BOARD_PATH, createBoard } from './board.ts';
import { loginRoutes } from './pages/login.ts';
import { overviewPage } from './pages/overview.ts';
import { esc, page } from './pages/layout.ts';

export interface AppDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** Shown in errors about Redis (the redacted REDIS_URL). */
  redisLabel: string;
  /** Login; undefined = no login (main.ts then binds 127.0.0.1 only). */
  auth?: (Credentials & { sessionSecret?: string | undefined }) | undefined;
  /** How stale bull-board's queue list may be (ms). */
  boardRefreshMs?: number;
}

function wantsHtml(req: Request): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

/** body-parser's errors carry a status; anything else unexpected is a bug. */
function toConveyorError(err: unknown): ConveyorError {
  if (isConveyorError(err)) return err;
  const status = (err as { status?: unknown } | null)?.status;
  if (status === 413) return new ConveyorError('PAYLOAD_TOO_LARGE', 'the form is too large');
  if (typeof status === 'number' && status >= 400 && status < 500) return new ConveyorError('INVALID_REQUEST', (err as Error).message);
  return new ConveyorError('INTERNAL', 'unexpected error; the log has the details');
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'same-origin' });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  const loginEnabled = deps.auth !== undefined;
  if (deps.auth) {
    const keeper = new SessionKeeper(deps.auth, deps.auth.sessionSecret);
    app.use(loginRoutes(keeper, deps.logger));
    app.use(requireSession(keeper));
  } else {
    app.get('/login', (_req, res) => res.redirect(302, '/'));
  }

  app.get('/', async (_req, res) => {
    const queues = await deps.inspector.listQueues().catch((err: unknown) => {
      throw isConveyorError(err) ? err : toRedisError(err, deps.redisLabel);
    });
    res.type('html').send(overviewPage(queues, { logout: loginEnabled }));
  });

  const board = createBoard({ queues: deps.queues, inspector: deps.inspector, logger: deps.logger, refreshMs: deps.boardRefreshMs });
  app.use(BOARD_PATH, board.refresher, board.router);

  app.use((req, res) => {
    const err = new ConveyorError('NOT_FOUND', `no page at ${req.method} ${req.path}`);
    if (wantsHtml(req)) res.status(404).type('html').send(page({ title: 'Not found', logout: loginEnabled }, `<h1>Not found</h1><p>${esc(err.message)}</p>`));
    else res.status(404).json({ error: { code: err.code, message: err.message } });
  });

  // Express 5 passes rejected async handlers here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const ce = toConveyorError(err);
    if (ce.code === 'INTERNAL') deps.logger.error({ err: err instanceof Error ? err.stack : String(err), path: req.path }, 'request failed');
    if (ce.status === 503) res.set('Retry-After', '5');
    if (wantsHtml(req)) {
      res.status(ce.status).type('html').send(page({ title: 'Error', logout: loginEnabled }, `<h1>${ce.status === 503 ? 'Redis is unavailable' : 'Error'}</h1><p class="bad">${esc(ce.message)}</p>`));
    } else {
      res.status(ce.status).json({ error: { code: ce.code, message: ce.message } });
    }
  });

  return app;
}
