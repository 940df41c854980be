/**
 * The dashboard app: Conveyor's pages plus bull-board, behind an optional
 * login. createApp builds it (tests mount it on port 0); main.ts runs it.
 *
 *   /healthz          always open: the process is alive
 *   /assets/*         stylesheet, script, icon
 *   /login, /logout   when dashboard users are configured
 *   /                 overview          /workers    the fleet
 *   /dead             dead letters      /search     find jobs
 *   /schedules        cron schedules    /redis      the Redis behind it all
 *   /audit            operator actions  /queues     bull-board (its JSON API under /queues/api)
 *
 * Every state-changing request needs the session's CSRF token; read-only
 * users are refused any change; every change is written to the audit log.
 */
import { join } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { ConveyorError, isConveyorError } from '../shared/errors.ts';
import { toRedisError } from '../shared/redis/connections.ts';
import { isRedisFailure } from '../shared/redis/failures.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import { Producer } from '../shared/queue/producer.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { Fleet } from '../shared/queue/fleet.ts';
import { DeadLetterGroups } from '../shared/queue/dead-letter-groups.ts';
import { JobSearch } from '../shared/queue/search.ts';
import { AuditLog } from '../shared/audit.ts';
import type { RedisTarget } from '../shared/config/redis-url.ts';
import type { Logger } from '../shared/log.ts';
import { SessionKeeper, localSession, requireCsrf, requireSession, requireWriter, wantsJson, type UserEntry } from './auth.ts';
import { LoginLimiter, type LimiterOptions } from './login-limiter.ts';
import { BOARD_PATH, createBoard } from './board.ts';
import { securityHeaders } from './security.ts';
import { audit, viewerOf, type BoardContext, type BoardData } from './context.ts';
import { loginRoutes } from './pages/login.ts';
import { overviewRoutes } from './pages/overview.ts';
import { workersRoutes } from './pages/workers.ts';
import { deadLetterRoutes } from './pages/dead-letters.ts';
import { searchRoutes } from './pages/search.ts';
import { scheduleRoutes } from './pages/schedules.ts';
import { redisRoutes } from './pages/redis.ts';
import { auditRoutes } from './pages/audit.ts';
import { esc, page } from './pages/layout.ts';

export interface AppDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** Shown in errors about Redis (the redacted REDIS_URL). */
  redisLabel: string;
  /** For the Redis page's Sentinel view. */
  redisTarget?: RedisTarget;
  redisTlsCa?: string | undefined;
  /** Login: the admin user, read-only users. Undefined (or no user at all) = no login (main.ts then binds 127.0.0.1 only). */
  auth?: {
    user?: string | undefined;
    password?: string | undefined;
    readonlyUsers?: readonly { user: string; password: string }[];
    sessionSecret?: string | undefined;
  } | undefined;
  /** How stale bull-board's queue list may be (ms). */
  boardRefreshMs?: number;
  maxPayloadBytes?: number;
  /** Overview alert: the oldest waiting job is older than this (default 5 min). */
  alertWaitingMs?: number;
  auditCap?: number;
  loginLimit?: LimiterOptions;
}

/** Browsers ask for text/html; fetch calls and bull-board's API get JSON. */
function wantsHtml(req: Request): boolean {
  return !wantsJson(req) && (req.headers.accept ?? '').includes('text/html');
}

function usersOf(auth: AppDeps['auth']): UserEntry[] {
  const users: UserEntry[] = [];
  if (auth?.user && auth.password) users.push({ user: auth.user, password: auth.password, role: 'admin' });
  for (const u of auth?.readonlyUsers ?? []) users.push({ ...u, role: 'read' });
  return users;
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

/** bull-board's API writes ("PUT /api/queues/{q}/retry/failed"...) in the audit log, with the status they got. */
function auditBoardWrites(ctx: BoardContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      next();
      return;
    }
    const path = req.path;
    res.on('finish', () => {
      const m = /\/api\/queues\/([^/]+)/.exec(path);
      const bull = m ? decodeURIComponent(m[1]!) : undefined;
      const queue = bull?.replace(/^\{(.*)\}(\.dead)?$/, '$1');
      void audit(ctx, req, res, { action: `board.${req.method.toLowerCase()}`, queue, target: `${BOARD_PATH}${path}`, outcome: res.statusCode < 400 ? 'ok' : res.statusCode === 403 ? 'refused' : 'failed', detail: `HTTP ${res.statusCode}` });
    });
    next();
  };
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders(BOARD_PATH));

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/assets', express.static(join(import.meta.dirname, 'public'), { maxAge: '1h', index: false }));

  const producer = new Producer(deps.queues, { maxPayloadBytes: deps.maxPayloadBytes, redisLabel: deps.redisLabel });
  const data: BoardData = {
    queues: deps.queues,
    inspector: deps.inspector,
    fleet: new Fleet(deps.queues.connection),
    audit: new AuditLog(deps.queues.connection, { cap: deps.auditCap }),
    dead: new DeadLetterGroups(deps.queues),
    search: new JobSearch(deps.queues, deps.inspector),
    schedules: new Schedules(deps.queues, producer, { maxPayloadBytes: deps.maxPayloadBytes, logger: deps.logger }),
    redisTarget: deps.redisTarget,
    redisTlsCa: deps.redisTlsCa,
  };
  const users = usersOf(deps.auth);
  const loginEnabled = users.length > 0;
  const ctx: BoardContext = { data, log: deps.logger, loginEnabled, alertWaitingMs: deps.alertWaitingMs ?? 300_000 };

  const keeper = new SessionKeeper(users, deps.auth?.sessionSecret, deps.queues.connection);
  if (loginEnabled) {
    app.use(loginRoutes(ctx, keeper, new LoginLimiter(deps.queues.connection, deps.loginLimit)));
    app.use(requireSession(keeper));
  } else {
    app.get('/login', (_req, res) => res.redirect(302, '/'));
    app.use(localSession(keeper));
  }
  // Forms (bull-board parses its own JSON bodies; its token comes as a header).
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));
  app.use(requireCsrf);
  app.use(requireWriter);

  app.use(overviewRoutes(ctx));
  app.use(workersRoutes(ctx));
  app.use(deadLetterRoutes(ctx));
  app.use(searchRoutes(ctx));
  app.use(scheduleRoutes(ctx));
  app.use(redisRoutes(ctx));
  app.use(auditRoutes(ctx));

  const board = createBoard({ queues: deps.queues, inspector: deps.inspector, logger: deps.logger, refreshMs: deps.boardRefreshMs });
  app.use(BOARD_PATH, auditBoardWrites(ctx), board.refresher, board.router);

  app.use((req, res) => {
    const err = new ConveyorError('NOT_FOUND', `no page at ${req.method} ${req.path}`);
    if (wantsHtml(req)) res.status(404).type('html').send(page({ title: 'Not found', viewer: res.locals.session ? viewerOf(ctx, res) : undefined }, `<div class="card"><h1>Not found</h1><p class="muted">${esc(err.message)}</p><p><a href="/">Back to the overview</a></p></div>`));
    else res.status(404).json({ error: { code: err.code, message: err.message } });
  });

  // Express 5 passes rejected async handlers here.
  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const ce = toConveyorError(err, deps.redisLabel);
    if (ce.code === 'INTERNAL') deps.logger.error({ err: err instanceof Error ? err.stack : String(err), path: req.path }, 'request failed');
    if (ce.code === 'READ_ONLY_USER' || ce.code === 'CSRF_TOKEN_INVALID') {
      await audit(ctx, req, res, { action: `refused.${ce.code === 'READ_ONLY_USER' ? 'read-only' : 'csrf'}`, target: `${req.method} ${req.path}`, outcome: 'refused' });
    }
    if (ce.status === 503) res.set('Retry-After', '5');
    if (wantsHtml(req)) {
      const title = ce.status === 503 ? 'Redis is unavailable' : ce.status === 403 ? 'Not allowed' : ce.status === 404 ? 'Not found' : 'Something went wrong';
      const viewer = res.locals.session ? viewerOf(ctx, res) : undefined;
      res.status(ce.status).type('html').send(page({ title, viewer }, `<div class="card"><h1>${esc(title)}</h1><p class="bad-text">${esc(ce.message)}</p><p class="faint">${esc(ce.code)}</p><p><a href="/">Back to the overview</a></p></div>`));
    } else {
      res.status(ce.status).json({ error: { code: ce.code, message: ce.message } });
    }
  });

  return app;
}
