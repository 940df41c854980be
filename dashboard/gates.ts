/**
 * The gates in front of every page: who is asking (one of three, chosen by
 * the router), then the CSRF token on every change, then no change by a
 * read-only user.
 *
 *   requireSession  Conveyor's own login (auth users configured): a valid session cookie, else /login
 *   hostSession     the host app says who it is (identify): its answer, else 401
 *   localSession    neither: everyone is one local admin (main.ts then listens on 127.0.0.1 only)
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ConveyorError } from '../shared/errors.ts';
import { CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, cookieOptions, readCookie, safeEqual, type Role, type Session, type SessionKeeper } from './auth.ts';
import { stateOf } from './mount.ts';

/** Who the host app says is asking. Only role 'admin' may change anything. */
export interface Identity {
  user: string;
  role: Role;
}

/** The host's answer for a request: undefined = nobody is signed in (the dashboard answers 401). */
export type Identify = (req: Request) => Identity | undefined | Promise<Identity | undefined>;

/** Requests that want JSON (bull-board's API, fetch calls) get JSON errors; pages get redirects and HTML. */
export function wantsJson(req: Request): boolean {
  if (/\/api(\/|$)/.test(req.path)) return true;
  const accept = req.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export function sessionOf(res: Response): Session {
  return stateOf(res).session!;
}

/** The gate: lets a request through with a valid session, else 401 JSON (or for a non-GET) or a redirect to the login. */
export function requireSession(keeper: SessionKeeper) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const state = stateOf(res);
    const session = await keeper.check(readCookie(req, SESSION_COOKIE));
    if (session) {
      state.session = session;
      state.csrf = keeper.csrfToken(session);
      next();
      return;
    }
    if (wantsJson(req) || !['GET', 'HEAD'].includes(req.method)) {
      const err = new ConveyorError('UNAUTHORIZED', `Log in to the dashboard first (POST ${state.base}/login).`);
      res.status(401).json({ error: { code: err.code, message: err.message } });
      return;
    }
    res.redirect(302, `${state.base}/login?next=${encodeURIComponent(req.originalUrl)}`);
  };
}

/** A usable identity, or undefined. A host bug (a JavaScript caller, a role misspelt) fails closed: no name, no entry; any role but 'admin' reads only. */
function checked(who: unknown): Identity | undefined {
  if (!who || typeof who !== 'object') return undefined;
  const { user, role } = who as { user?: unknown; role?: unknown };
  if (typeof user !== 'string' || user.trim() === '') return undefined;
  return { user: user.slice(0, 128), role: role === 'admin' ? 'admin' : 'read' };
}

const BROWSER_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * The host app signs users in; identify() says who is asking. Without a
 * session cookie the CSRF token still needs a per-browser secret the
 * attacking page cannot know: a random id in the conveyor_csrf cookie
 * (HttpOnly, SameSite=Strict, the base path), bound to the user by the HMAC.
 * Answering undefined is a 401 (the error handler draws the "not signed in" page).
 */
export function hostSession(keeper: SessionKeeper, identify: Identify) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const who = checked(await identify(req));
    if (!who) {
      next(new ConveyorError('UNAUTHORIZED', 'Not signed in: the application this dashboard is part of did not say who you are. Sign in there, then come back.'));
      return;
    }
    let browser = readCookie(req, CSRF_COOKIE);
    if (!browser || !BROWSER_ID.test(browser)) {
      browser = randomBytes(16).toString('base64url');
      res.cookie(CSRF_COOKIE, browser, cookieOptions(req, res));
    }
    const session: Session = { sid: `${browser}\0${who.user}`, user: who.user, role: who.role, exp: Number.MAX_SAFE_INTEGER };
    const state = stateOf(res);
    state.session = session;
    state.csrf = keeper.csrfToken(session);
    next();
  };
}

/**
 * Without configured users or identify (the dashboard then listens on
 * 127.0.0.1 only) every visitor is one local admin; the CSRF token still
 * guards against web pages that make the browser post to localhost.
 */
export function localSession(keeper: SessionKeeper) {
  const session: Session = { sid: randomBytes(16).toString('base64url'), user: 'local', role: 'admin', exp: Number.MAX_SAFE_INTEGER };
  const csrf = keeper.csrfToken(session);
  return (_req: Request, res: Response, next: NextFunction): void => {
    const state = stateOf(res);
    state.session = session;
    state.csrf = csrf;
    next();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Every state-changing request carries the session's CSRF token (form field or header). */
export function requireCsrf(req: Request, res: Response, next: NextFunction): void {
  if (SAFE_METHODS.has(req.method)) {
    next();
    return;
  }
  const expected = stateOf(res).csrf;
  const header = req.headers[CSRF_HEADER];
  const field = (req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD];
  const given = typeof header === 'string' ? header : typeof field === 'string' ? field : '';
  if (!expected || !given || !safeEqual(given, expected)) {
    next(new ConveyorError('CSRF_TOKEN_INVALID', 'This action came without a valid CSRF token. Reload the page and try again.'));
    return;
  }
  next();
}

/** Read-only users see everything and change nothing (logout aside). */
export function requireWriter(req: Request, res: Response, next: NextFunction): void {
  if (SAFE_METHODS.has(req.method) || sessionOf(res).role === 'admin') {
    next();
    return;
  }
  next(new ConveyorError('READ_ONLY_USER', `"${sessionOf(res).user}" is a read-only user: it can look at everything but change nothing.`));
}
