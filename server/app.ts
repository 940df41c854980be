/**
 * The HTTP API as an express Router (createRouter: mountable under any
 * prefix) and as a whole express app (createApp: the standalone server,
 * tests on port 0). Neither listens; server/main.ts wires the standalone
 * process, api-router.ts builds the deps from a Conveyor.
 */
import express, { Router, type Express, type Response } from 'express';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/log.ts';
import type { Producer } from '../shared/queue/producer.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { PrimaryStatus } from '../shared/redis/topology.ts';
import type { Schedules } from '../shared/queue/schedules.ts';
import type { JobCatalog } from '../shared/jobs/job-catalog.ts';
import { errorHandler, notFound, sendError } from './http-errors.ts';
import { requestTimeout } from './request-input.ts';
import { mountRoutes } from './routes/index.ts';

import type { LimitsStore } from '../shared/flow/queue-limits.ts';
import type { LimitsStatus } from '../shared/conveyor.ts';
import type { Batches } from '../shared/batches/batches.ts';
import type { Workflows } from '../shared/workflows/workflows.ts';
import type { HistoryStore } from '../shared/history/store.ts';

export interface AppDeps {
  config: Readonly<Config>;
  producer: Producer;
  inspector: Inspector;
  logger: Logger;
  /** /readyz: is a writable Redis primary answering? */
  readiness: () => Promise<PrimaryStatus>;
  metrics: Metrics;
  /** Cron schedules (/v1/schedules); without it those paths answer 404. */
  schedules?: Schedules;
  /** The known jobs: their payload schemas go into the OpenAPI document. */
  catalog?: JobCatalog;
  /** Check bearer tokens (config.apiTokens) on /v1; false when the host app's own auth guards the router. */
  authenticate?: boolean;
  /** Flow limits (/v1/queues/:queue/limits); without it those paths answer 404. */
  flow?: { store: LimitsStore; status: (queue: string) => Promise<LimitsStatus> };
  /** Job history queries (HISTORY_URL); without it /v1/history answers 404 HISTORY_NOT_CONFIGURED. */
  history?: () => Promise<HistoryStore>;
  /** Batches (/v1/batches); without it those paths answer 404. */
  batches?: Batches;
  /** Workflows (/v1/workflows); without it those paths answer 404. */
  workflows?: Workflows;
  /** The rate limiter's clock (ms; default performance.now): tests freeze it. */
  now?: () => number;
}

/** Where the router is mounted ('' at the root): Location headers and the OpenAPI servers entry start with it. */
export function apiBase(res: Response): string {
  return typeof res.locals.apiBase === 'string' ? res.locals.apiBase : '';
}

export function createRouter(deps: AppDeps): Router {
  const r = Router();
  r.use((req, res, next) => {
    res.locals.apiBase = req.baseUrl;
    next();
  });

  const timeoutMs = deps.config.requestTimeoutMs;
  r.use(requestTimeout(timeoutMs, (res) => sendError(res, 'REQUEST_TIMEOUT', `the request was not answered within REQUEST_TIMEOUT_MS=${timeoutMs} ms; retry later`)));

  // A line per request only at LOG_LEVEL=debug: otherwise no listener, timer or object per request (the hot path).
  if (deps.logger.isLevelEnabled('debug')) {
    r.use((req, res, next) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        deps.logger.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
      next();
    });
  }

  mountRoutes(r, deps);
  // The API owns /v1 under its mount point; any other path is left to the host app (next()).
  r.use('/v1', notFound);
  r.use(errorHandler(deps.logger, deps.config.redis.redacted));
  return r;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Plain key=value query strings: no nested objects from ?a[b]=c.
  app.set('query parser', 'simple');
  app.use(createRouter(deps));
  app.use(notFound);
  app.use(errorHandler(deps.logger, deps.config.redis.redacted));
  return app;
}
