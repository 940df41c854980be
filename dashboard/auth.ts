/**
 * Dashboard login: one user and password from the config, a signed session
 * cookie, and a gate in front of every page but /login and /healthz.
 *
 * The cookie is `base64url(JSON{sid,u,exp}).base64url(HMAC-SHA256)`. The HMAC
 * key is derived from the session secret AND the configured credentials, so
 * changing DASHBOARD_PASSWORD ends every session. Logout revokes the session id
 * in this process (a copy of the cookie stops working at once here); with
 * several dashboard processes behind a balancer, other processes honour the
 * cookie until it expires (SESSION_TTL_MS) — a shared revocation list is a
 * later step.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ConveyorError } from '#shared/errors.ts';

export const SESSION_COOKIE = 'conveyor_session';
export const SESSION_TTL_MS = 12 * 3600_000;

export interface Credentials {
  user: string;
  password: string;
}

export interface Session {
  sid: string;
  user: string;
  exp: number;
}

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export class SessionKeeper {
  private readonly key: Buffer;
  private readonly creds: Credentials;
  /** sid → expiry of sessions ended by logout. */
  private readonly revoked = new Map<string, number>();
  private readonly now: () => number;

  constructor(creds: Credentials, secret: string | undefined, now: () => number = Date.now) {
    this.creds = creds;
    this.now = now;
    const base = secret ?? randomBytes(32).toString('hex');
    this.key = createHmac('sha256', base).update(`conveyor-session\0${creds.user}\0${creds.password}`).digest();
  }

  checkLogin(user: string, password: string): boolean {
    // Evaluate both so a wrong user costs the same time as a wrong password.
    const u = safeEqual(user, this.creds.user);
    const p = safeEqual(password, this.creds.password);
    return u && p;
  }

  issue(user: string): { value: string; session: Session } {
    const session: Session = { sid: randomBytes(16).toString('base64url'), user, exp: this.now() + SESSION_TTL_MS };
    const body = Buffer.from(JSON.stringify(session)).toString('base64url');
    return { value: `${body}.${this.sign(body)}`, session };
  }

  verify(value: string | undefined): Session | undefined {
    if (!value) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    const mac = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(body), 'base64url');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    let s: Session;
    try {
      s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Session;
    } catch {
      return undefined;
    }
    if (typeof s.exp !== 'number' || s.exp <= this.now() || typeof s.sid !== 'string') return undefined;
    if (this.revoked.has(s.sid)) return undefined;
    return s;
  }

  revoke(session: Session): void {
    const now = this.now();
    for (const [sid, exp] of this.revoked) if (exp <= now) this.revoked.delete(sid);
    this.revoked.set(session.sid, session.exp);
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** Reads one cookie from the Cookie header (no cookie-parser dependency for one value). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** HTTPS directly or behind a TLS-terminating proxy: the cookie then carries Secure. */
export function isHttps(req: Request): boolean {
  return req.secure || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() === 'https';
}

export function setSessionCookie(req: Request, res: Response, value: string): void {
  res.cookie(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'strict',
    secure: isHttps(req),
    path: '/',
    maxAge: SESSION_TTL_MS,
  });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: isHttps(req), path: '/' });
}

/** Where a login may send the browser back to: a path on this site only. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

/** Requests that want JSON (bull-board's API, fetch calls) get 401 JSON; pages get a redirect. */
function wantsJson(req: Request): boolean {
  if (/\/api(\/|$)/.test(req.path)) return true;
  const accept = req.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

/** The gate: lets a request through with a valid session, else 401 JSON or a redirect to /login. */
export function requireSession(keeper: SessionKeeper) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const session = keeper.verify(readCookie(req, SESSION_COOKIE));
    if (session) {
      res.locals.session = session;
      next();
      return;
    }
    if (wantsJson(req)) {
      const err = new ConveyorError('UNAUTHORIZED', 'Log in to the dashboard first (POST /login).');
      res.status(401).json({ error: { code: err.code, message: err.message } });
      return;
    }
    res.redirect(302, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  };
}
