/**
 * The standalone dashboard app: dashboardRouter (router.ts: the pages,
 * bull-board, login) at the root, plus what belongs to the process rather
 * than to the dashboard:
 *
 *   /healthz          always open: the process is alive
 *
 * createApp builds it (tests mount it on port 0); main.ts runs it. To put the
 * dashboard inside another express app, mount dashboardRouter instead.
 */
import express, { type Express } from 'express';
import { dashboardRouter, type DashboardRouterDeps } from './router.ts';

export { dashboardRouter, type DashboardRouterDeps, type Identify, type Identity } from './router.ts';

export type AppDeps = DashboardRouterDeps;

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ ok: true });
  });
  app.use(dashboardRouter(deps));
  return app;
}
