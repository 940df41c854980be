/**
 * createApp(deps): the HTTP API as an express app, without listening. Tests
 * mount it on port 0; server/main.ts wires it to Redis and a port.
 */
import express, { type Express } from 'express';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/log.ts';
import type { Producer } from '../shared/queue/producer.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { PrimaryStatus } from '../shared/redis/topology.ts';
import type { Schedules } from '../shared/queue/schedules.ts';
import { errorHandler, notFound, sendError } from './http-errors.ts';
import { requestTimeout } from './request-input.ts';
import { mountRoutes } from './routes/index.ts';

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
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Plain key=value query strings: no nested objects from ?a[b]=c.
  app.set('query parser', 'simple');

  const timeoutMs = deps.config.requestTimeoutMs;
  app.use(requestTimeout(timeoutMs, (res) => sendError(res, 'REQUEST_TIMEOUT', `the request was not answered within REQUEST_TIMEOUT_MS=${timeoutMs} ms; retry later`)));

  // A line per request only at LOG_LEVEL=debug: otherwise no listener, timer or object per request (the hot path).
  if (deps.logger.isLevelEnabled('debug')) {
    app.use((req, res, next) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        deps.logger.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
      next();
    });
  }

  mountRoutes(app, deps);
  app.use(notFound);
  app.use(errorHandler(deps.logger, deps.config.redis.redacted));
  return app;
}
