/**
 * The dashboard as an express Router: Conveyor's pages plus bull-board,
 * mountable at any path of any express app, the way bull-board's adapters are:
 *
 *   app.use('/admin/conveyor', requireLogin, dashboardRouter({ ...deps, identify: (req) => ... }));
 *
 * createApp (app.ts) mounts it at the root. Paths below are relative to
 * wherever it is mounted; every link, redirect, cookie and asset URL it
 * writes starts with that base (mount.ts).
 *
 *   /assets/*         stylesheet, script, icon
 *   /login, /logout   when dashboard users are configured
 *   /                 overview          /workers    the fleet
 *   /dead             dead letters      /search     find jobs
 *   /schedules        cron schedules    /redis      the Redis behind it all
 *   /audit            operator actions  /queues     bull-board (its JSON API under /queues/api)
 *
 * Who is asking: Conveyor's own login (auth users), or the host app's
 * identify(), or (neither) everyone is the local admin. Every
 * state-changing request needs the CSRF token in every mode; read-only users
 * are refused any change; every change is written to the audit log.
 */
import { join } from 'node:path';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ConveyorError } from '../shared/errors.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import { Producer } from '../shared/queue/producer.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { LimitsStore } from '../shared/flow/queue-limits.ts';
import { FlowGate } from '../shared/flow/gate.ts';
import { Fleet } from '../shared/queue/fleet.ts';
import { DeadLetterGroups } from '../shared/queue/dead-letter-groups.ts';
import { JobSearch } from '../shared/queue/search.ts';
import { AuditLog } from '../shared/audit.ts';
import type { RedisTarget } from '../shared/config/redis-url.ts';
import type { Logger } from '../shared/log.ts';
import { SessionKeeper, type UserEntry } from './auth.ts';
import { hostSession, localSession, requireCsrf, requireSession, requireWriter, type Identify } from './gates.ts';
import { LoginLimiter, type LimiterOptions } from './login-limiter.ts';
import { BOARD_PATH, createBoard } from './board.ts';
import { securityHeaders } from './security.ts';
import { baseOf, enterDashboard } from './mount.ts';
import { audit, type BoardContext, type BoardData, type SignIn } from './context.ts';
import { errorPage, notFound } from './error-pages.ts';
import { loginRoutes } from './pages/login.ts';
import { overviewRoutes } from './pages/overview.ts';
import { workersRoutes } from './pages/workers.ts';
import { deadLetterRoutes } from './pages/dead-letters.ts';
import { searchRoutes } from './pages/search.ts';
import { scheduleRoutes } from './pages/schedules.ts';
import { limitsRoutes } from './pages/limits.ts';
import { batchRoutes } from './pages/batches.ts';
import { workflowRoutes } from './pages/workflows.ts';
import { redisRoutes } from './pages/redis.ts';
import { auditRoutes } from './pages/audit.ts';

export type { Identify, Identity } from './gates.ts';

export interface DashboardRouterDeps {
  queues: QueueSet;
  inspector: Inspector;
  logger: Logger;
  /** Shown in errors about Redis (the redacted REDIS_URL). */
  redisLabel: string;
  /** For the Redis page's Sentinel view. */
  redisTarget?: RedisTarget;
  redisTlsCa?: string | undefined;
  /**
   * Conveyor's own login: the admin user, read-only users. Undefined (or no
   * user at all) = no login (main.ts then binds 127.0.0.1 only).
   * sessionSecret also keys the CSRF tokens: give every dashboard process
   * behind one balancer the same one (with identify too).
   */
  auth?: {
    user?: string | undefined;
    password?: string | undefined;
    readonlyUsers?: readonly { user: string; password: string }[];
    sessionSecret?: string | undefined;
  } | undefined;
  /**
   * The host app signs users in instead of Conveyor: who is asking, or
   * undefined for nobody (401). Conveyor's login pages are then off; the
   * name goes into the audit log; role 'read' (or anything but 'admin')
   * changes nothing. Not together with auth users.
   */
  identify?: Identify | undefined;
  /** How stale bull-board's queue list may be (ms). */
  boardRefreshMs?: number;
  maxPayloadBytes?: number;
  /** Overview alert: the oldest waiting job is older than this (default 5 min). */
  alertWaitingMs?: number;
  auditCap?: number;
  loginLimit?: LimiterOptions;
  /** The Conveyor's own schedules and fleet (a mounted or standalone board built from a Conveyor); built on `queues` otherwise. */
  schedules?: Schedules;
  /** Flow limits (default: built on the queues' connection). */
  limits?: LimitsStore;
  fleet?: Fleet;
}

function usersOf(auth: DashboardRouterDeps['auth']): UserEntry[] {
  const users: UserEntry[] = [];
  if (auth?.user && auth.password) users.push({ user: auth.user, password: auth.password, role: 'admin' });
  for (const u of auth?.readonlyUsers ?? []) users.push({ ...u, role: 'read' });
  return users;
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

export function dashboardRouter(deps: DashboardRouterDeps): Router {
  const users = usersOf(deps.auth);
  if (deps.identify && users.length > 0) {
    throw new ConveyorError('CONFIG_INVALID', 'dashboard: give either login users (auth) or identify, not both: with identify the host app signs users in');
  }
  const signIn: SignIn = deps.identify ? 'host' : users.length > 0 ? 'login' : 'none';

  const router = Router();
  router.use(enterDashboard);
  router.use(securityHeaders(BOARD_PATH));
  router.use('/assets', express.static(join(import.meta.dirname, 'public'), { maxAge: '1h', index: false }));

  const schedules = deps.schedules ?? new Schedules(deps.queues, new Producer(deps.queues, { maxPayloadBytes: deps.maxPayloadBytes, redisLabel: deps.redisLabel }), { maxPayloadBytes: deps.maxPayloadBytes, logger: deps.logger });
  const data: BoardData = {
    queues: deps.queues,
    inspector: deps.inspector,
    fleet: deps.fleet ?? new Fleet(deps.queues.connection),
    audit: new AuditLog(deps.queues.connection, { cap: deps.auditCap }),
    dead: new DeadLetterGroups(deps.queues),
    search: new JobSearch(deps.queues, deps.inspector),
    schedules,
    limits: deps.limits ?? new LimitsStore(deps.queues, new FlowGate(deps.queues.connection)),
    redisTarget: deps.redisTarget,
    redisTlsCa: deps.redisTlsCa,
  };
  const ctx: BoardContext = { data, log: deps.logger, signIn, alertWaitingMs: deps.alertWaitingMs ?? 300_000 };

  const keeper = new SessionKeeper(users, deps.auth?.sessionSecret, deps.queues.connection);
  if (signIn === 'login') {
    router.use(loginRoutes(ctx, keeper, new LoginLimiter(deps.queues.connection, deps.loginLimit)));
    router.use(requireSession(keeper));
  } else {
    router.get('/login', (_req, res) => res.redirect(302, `${baseOf(res)}/`));
    router.use(deps.identify ? hostSession(keeper, deps.identify) : localSession(keeper));
  }
  // Forms (bull-board parses its own JSON bodies; its token comes as a header).
  router.use(express.urlencoded({ extended: false, limit: '1mb' }));
  router.use(requireCsrf);
  router.use(requireWriter);

  router.use(overviewRoutes(ctx));
  router.use(workersRoutes(ctx));
  router.use(deadLetterRoutes(ctx));
  router.use(searchRoutes(ctx));
  router.use(scheduleRoutes(ctx));
  router.use(limitsRoutes(ctx));
  router.use(batchRoutes(ctx));
  router.use(workflowRoutes(ctx));
  router.use(redisRoutes(ctx));
  router.use(auditRoutes(ctx));

  const board = createBoard({ queues: deps.queues, inspector: deps.inspector, logger: deps.logger, refreshMs: deps.boardRefreshMs, signIn });
  router.use(BOARD_PATH, auditBoardWrites(ctx), board.refresher, board.router);

  router.use(notFound(ctx));
  router.use(errorPage(ctx, deps.redisLabel));
  return router;
}
