/**
 * apiRouter({ conveyor }): Conveyor's HTTP API as an express Router, for an
 * app to mount under any prefix, behind its own authentication if it likes:
 *
 *   app.use('/jobs-api', requireLogin, apiRouter({ conveyor, authenticate: false }));
 *
 * The routes are the standalone server's (/v1/…, /healthz, /readyz,
 * /metrics, /v1/openapi.json), on the Conveyor's connection and settings;
 * Location headers carry the prefix. Paths outside /v1 that are not the
 * probes go on to the app's own routes.
 */
import type { Router } from 'express';
import { coreOf, limitsStatus, type Conveyor } from '../shared/conveyor.ts';
import type { Logger } from '../shared/log.ts';
import { Metrics } from '../shared/metrics.ts';
import { createRouter, type AppDeps } from './app.ts';

export interface ApiRouterOptions {
  /** The connected Conveyor whose queues the API serves (it stays the caller's to close). */
  conveyor: Conveyor;
  /**
   * Check bearer tokens (the Conveyor's API_TOKENS / apiTokens; none set:
   * every caller has every scope). false: no token check, for a router the
   * host app's own authentication already guards. Default true.
   */
  authenticate?: boolean;
  /** Request log lines (LOG_LEVEL=debug) and 500s go here; default the Conveyor's logger. */
  logger?: Logger;
}

/** The deps of the API's routes, from the parts behind a Conveyor. */
export function apiDeps(conveyor: Conveyor, opts: Omit<ApiRouterOptions, 'conveyor'> & { processMetrics?: boolean } = {}): AppDeps {
  const core = coreOf(conveyor);
  return {
    config: core.config,
    producer: core.producer,
    inspector: core.inspector,
    schedules: core.schedules,
    catalog: core.catalog,
    flow: { store: core.limits, status: (queue) => limitsStatus(core, queue) },
    batches: core.batches,
    workflows: core.workflows,
    ...(core.config.history ? { history: () => core.historyStore() } : {}),
    logger: opts.logger ?? core.log,
    readiness: () => core.readiness(),
    metrics: new Metrics({ inspector: core.inspector, queueSet: core.queues, schedules: core.schedules, processMetrics: opts.processMetrics ?? false }),
    authenticate: opts.authenticate ?? true,
  };
}

export function apiRouter(opts: ApiRouterOptions): Router {
  return createRouter(apiDeps(opts.conveyor, opts));
}
