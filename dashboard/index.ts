/**
 * `conveyor/dashboard`: the dashboard (Conveyor's pages and bull-board) as an
 * express Router to mount under any prefix of an app, behind the app's own
 * authentication, or as the standalone dashboard (startDashboard).
 *
 *   app.use('/admin/conveyor', requireLogin, dashboardRouter({ conveyor, identify: (req) => ({ user: req.user.email, role: 'admin' }) }));
 */
import '../shared/node-version.ts';
import type { Router } from 'express';
import type { Conveyor } from '../shared/conveyor.ts';
import type { Logger } from '../shared/log.ts';
import { ConveyorError } from '../shared/errors.ts';
import { dashboardRouter as routerOf, type Identify } from './router.ts';
import { boardDeps } from './standalone.ts';

export { startDashboard } from './standalone.ts';
export type { DashboardOptions, RunningDashboard } from './standalone.ts';
export type { Identify, Identity } from './router.ts';

export interface DashboardRouterOptions {
  /** The connected Conveyor whose queues the dashboard shows (it stays the caller's to close). */
  conveyor: Conveyor;
  /**
   * Who is asking, from the host app's own sign-in (its session, its SSO):
   * { user, role: 'admin' | 'read' }, or undefined for nobody (401). The
   * name goes into the audit log; 'read' users change nothing. Without it,
   * the Conveyor's DASHBOARD_USER login applies if configured, else every
   * visitor is an admin: mount it behind your own authentication.
   */
  identify?: Identify;
  /** Key of the CSRF tokens (and sessions): give every process behind one balancer the same one (default: DASHBOARD_SESSION_SECRET, else random per process). */
  sessionSecret?: string;
  logger?: Logger;
}

export function dashboardRouter(opts: DashboardRouterOptions): Router {
  if (!opts || typeof opts !== 'object') throw new ConveyorError('INVALID_REQUEST', 'dashboardRouter({ conveyor, identify? })');
  const deps = boardDeps(opts.conveyor, opts.logger);
  const sessionSecret = opts.sessionSecret ?? deps.auth?.sessionSecret;
  if (opts.identify) return routerOf({ ...deps, identify: opts.identify, auth: sessionSecret ? { sessionSecret } : undefined });
  return routerOf({ ...deps, auth: deps.auth || sessionSecret ? { ...deps.auth, sessionSecret } : undefined });
}
