/**
 * Where the dashboard is mounted, and what it keeps per request.
 *
 * createApp serves the dashboard at the root; dashboardRouter can also sit
 * inside another express app under any prefix
 * (`app.use('/admin/conveyor', requireLogin, dashboardRouter(deps))`), even
 * under several. So no link, form action, redirect, cookie path or asset URL
 * is a fixed "/...": each is the request's base (the part of the path the
 * host's mount matched: req.baseUrl as the router is entered) followed by the
 * dashboard's own path.
 *
 * The per-request state lives in res.locals.conveyor, not in res.locals
 * itself: a host app's templates may well use res.locals.session or
 * res.locals.user for their own.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Session } from './auth.ts';

export interface RequestState {
  /** '' at the root, else the mount path without a trailing slash ('/admin/conveyor'). */
  base: string;
  /** Who is asking (set by the gate: login session, the host's identify, or the local admin). */
  session?: Session;
  csrf?: string;
}

// What a path may carry as it is. Anything else is percent-encoded, so the
// base is safe in a Location header and in a cookie's Path (no ";"), and
// (escaped like every value) in HTML.
const UNSAFE_PATH_CHAR = /[^A-Za-z0-9\-._~!$&'()*+,=:@/%]/g;

/**
 * The base as links use it. req.baseUrl is the raw (still percent-encoded)
 * matched part of the path; a mount with a parameter ('/:tenant') lets the
 * client choose it, so it is cleaned: one leading slash (never "//host", a
 * link to another site), no trailing slash, no backslash (browsers read it as
 * a slash) or other character outside a path's own.
 */
export function normalizeBase(baseUrl: string): string {
  const clean = baseUrl.replace(UNSAFE_PATH_CHAR, (c) => encodeURIComponent(c)).replace(/\/+$/, '');
  return clean === '' ? '' : `/${clean.replace(/^\/+/, '')}`;
}

/** The router's first middleware: fixes the base for everything after it (nested routers change req.baseUrl). */
export function enterDashboard(req: Request, res: Response, next: NextFunction): void {
  const state: RequestState = { base: normalizeBase(req.baseUrl) };
  res.locals.conveyor = state;
  next();
}

export function stateOf(res: Response): RequestState {
  return res.locals.conveyor as RequestState;
}

export function baseOf(res: Response): string {
  return stateOf(res).base;
}

/** Session, CSRF and flash cookies belong to the dashboard's part of the site only. */
export function cookiePath(res: Response): string {
  return baseOf(res) || '/';
}

/**
 * Where a redirect may send the browser (a login's "next"): a path on this
 * site under the base, resolved as a browser would ("/base/../x" leaves the
 * base, "/\\evil" is another site); anything else goes to the overview.
 */
export function safeNext(next: unknown, base: string): string {
  const home = `${base}/`;
  if (typeof next !== 'string' || !next.startsWith('/')) return home;
  let url: URL;
  try {
    url = new URL(next, 'http://conveyor.invalid');
  } catch {
    return home;
  }
  if (url.origin !== 'http://conveyor.invalid') return home;
  if (url.pathname !== base && !url.pathname.startsWith(home)) return home;
  return `${url.pathname}${url.search}`;
}
