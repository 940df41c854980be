/**
 * Where every router is mounted. Probes and the OpenAPI document need no
 * token; everything else under /v1 is authenticated, and each route asks for
 * its scope. To add a group of /v1 routes, append its factory to V1_ROUTES.
 */
import { Router } from 'express';
import { apiBase, type AppDeps } from '../app.ts';
import { authenticate } from '../auth.ts';
import { rateLimit } from '../rate-limit.ts';
import { methodNotAllowed } from '../http-errors.ts';
import { openApiDocument } from '../openapi.ts';
import { healthRoutes } from './health.ts';
import { queueRoutes } from './queues.ts';
import { jobRoutes } from './jobs.ts';
import { deadLetterRoutes } from './dead-letters.ts';
import { scheduleRoutes } from './schedules.ts';
import { limitsRoutes } from './limits.ts';
import { batchRoutes, workflowRoutes } from './batches.ts';
import { historyRoutes } from './history.ts';

/** Routers mounted under /v1 behind the bearer token. */
const V1_ROUTES: ((deps: AppDeps) => Router)[] = [
  queueRoutes,
  limitsRoutes,
  jobRoutes,
  deadLetterRoutes,
  batchRoutes,
  workflowRoutes,
  historyRoutes,
  (deps) => (deps.schedules ? scheduleRoutes({ schedules: deps.schedules, config: deps.config }) : Router()),
];

export function mountRoutes(app: Router, deps: AppDeps): void {
  app.use(healthRoutes(deps));
  // The contract is public: it names routes and the known jobs' payload schemas, not data. Its servers
  // entry is where the router is mounted (one document per mount path, built on first use).
  const jobs = deps.catalog?.documented() ?? [];
  const docs = new Map<string, string>();
  app.get('/v1/openapi.json', (_req, res) => {
    const base = apiBase(res);
    let doc = docs.get(base);
    if (doc === undefined) {
      if (docs.size >= 16) docs.clear(); // a mount with a parameter ("/:tenant") must not grow this without bound
      doc = JSON.stringify(openApiDocument(jobs, { serverUrl: base === '' ? '/' : base }));
      docs.set(base, doc);
    }
    res.type('application/json').send(doc);
  });
  app.all('/v1/openapi.json', methodNotAllowed('GET'));
  // Without tokens (or with authenticate: false, behind the host app's auth) every caller holds every scope.
  app.use('/v1', authenticate(deps.authenticate === false ? [] : deps.config.apiTokens));
  // After authentication: the limit is per token (all anonymous callers share one bucket).
  app.use('/v1', rateLimit(deps.config.apiRateLimit, { now: deps.now }));
  for (const routes of V1_ROUTES) app.use('/v1', routes(deps));
}
