/**
 * Dashboard login: users and roles from the config, a signed session cookie
 * and a CSRF token per session (gates.ts puts them in front of every page).
 *
 * Roles: the DASHBOARD_USER is "admin" (sees and changes); each user of
 * DASHBOARD_READONLY_USERS is "read" (sees everything, changes nothing).
 *
 * The cookie is `base64url(JSON{sid,u,r,exp}).base64url(HMAC-SHA256)`. The HMAC
 * key is derived from the session secret AND every configured credential, so
 * changing a password ends every session. Logout revokes the session id in
 * Redis until the session would have expired (keys.revokedSession): every
 * dashboard process behind a balancer refuses the cookie from then on. (They
 * accept each other's cookies only with the same DASHBOARD_SESSION_SECRET.)
 *
 * CSRF: the token is an HMAC of the session id, so it needs no storage and
 * dies with the session. Forms carry it as `_csrf`, scripts as the
 * `x-csrf-token` header; every request but GET/HEAD/OPTIONS (and the login
 * form itself) must carry it. When the host app signs users in (identify),
 * there is no session cookie: the "session id" is then a random id the
 * browser keeps in the conveyor_csrf cookie, bound to the identified user.
 *
 * Every cookie is scoped to the dashboard's base path (mount.ts).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { RedisConnection } from '../shared/redis/connections.ts';
import { keys } from '../shared/queue/names.ts';
import { cookiePath } from './mount.ts';

export const SESSION_COOKIE = 'conveyor_session';
export const SESSION_TTL_MS = 12 * 3600_000;
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** The browser's id for CSRF tokens when the host app identifies users (no session cookie then). */
export const CSRF_COOKIE = 'conveyor_csrf';

export type Role = 'admin' | 'read';

export interface Credentials {
  user: string;
  password: string;
}

export interface UserEntry extends Credentials {
  role: Role;
}

export interface Session {
  sid: string;
  user: string;
  role: Role;
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
  private readonly users: readonly UserEntry[];
  /** Where logouts are kept (shared by every dashboard process). */
  private readonly conn: RedisConnection;
  private readonly now: () => number;

  constructor(users: readonly UserEntry[], secret: string | undefined, conn: RedisConnection, now: () => number = Date.now) {
    this.users = users;
    this.conn = conn;
    this.now = now;
    const base = secret ?? randomBytes(32).toString('hex');
    const h = createHmac('sha256', base).update('conveyor-session');
    for (const u of users) h.update(`\0${u.role}\0${u.user}\0${u.password}`);
    this.key = h.digest();
  }

  /** The user's role when the password is right, else undefined. Every user is compared, so timing says nothing. */
  checkLogin(user: string, password: string): Role | undefined {
    let role: Role | undefined;
    for (const u of this.users) {
      const ok = safeEqual(user, u.user) && safeEqual(password, u.password);
      if (ok && !role) role = u.role;
    }
    return role;
  }

  issue(user: string, role: Role): { value: string; session: Session } {
    const session: Session = { sid: randomBytes(16).toString('base64url'), user, role, exp: this.now() + SESSION_TTL_MS };
    const body = Buffer.from(JSON.stringify(session)).toString('base64url');
    return { value: `${body}.${this.sign(body)}`, session };
  }

  /** The session of a cookie that is signed, unexpired and not logged out (asks Redis), else undefined. */
  async check(value: string | undefined): Promise<Session | undefined> {
    const s = this.verify(value);
    if (!s) return undefined;
    return (await this.conn.exists(keys.revokedSession(s.sid))) === 1 ? undefined : s;
  }

  /** Signature and expiry only (no logout check: see check()). */
  private verify(value: string | undefined): Session | undefined {
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
    if (s.role !== 'admin' && s.role !== 'read') return undefined;
    return s;
  }

  /** Ends a session in every dashboard process, until it would have expired anyway. */
  async revoke(session: Session): Promise<void> {
    const ttl = Math.ceil(session.exp - this.now());
    if (ttl > 0) await this.conn.set(keys.revokedSession(session.sid), '1', 'PX', ttl);
  }

  csrfToken(session: Pick<Session, 'sid'>): string {
    return createHmac('sha256', this.key).update(`csrf\0${session.sid}`).digest('base64url');
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** Reads one cookie from the Cookie header (no cookie-parser dependency for two values). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** HTTPS directly or behind a TLS-terminating proxy: the cookie then carries Secure. */
export function isHttps(req: Request): boolean {
  return req.secure || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() === 'https';
}

/** The options of every cookie the dashboard sets: script cannot read it, other sites cannot send it, and only the dashboard's paths get it. */
export function cookieOptions(req: Request, res: Response) {
  return { httpOnly: true, sameSite: 'strict', secure: isHttps(req), path: cookiePath(res) } as const;
}

export function setSessionCookie(req: Request, res: Response, value: string): void {
  res.cookie(SESSION_COOKIE, value, { ...cookieOptions(req, res), maxAge: SESSION_TTL_MS });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(SESSION_COOKIE, cookieOptions(req, res));
}
