/** GET/POST /login and POST /logout (only mounted when dashboard users are configured). */
import express, { Router, type Request, type Response } from 'express';
import { ConveyorError } from '../../shared/errors.ts';
import {
  CSRF_FIELD,
  SESSION_COOKIE,
  clearSessionCookie,
  readCookie,
  safeEqual,
  setSessionCookie,
  type SessionKeeper,
} from '../auth.ts';
import { baseOf, safeNext, stateOf } from '../mount.ts';
import type { LoginLimiter } from '../login-limiter.ts';
import { audit, type BoardContext } from '../context.ts';
import { esc, page } from './layout.ts';

export function loginPage(base: string, next: string, error?: string): string {
  return page(
    { base, title: 'Log in' },
    `<div class="login-wrap"><form class="card login" method="post" action="${esc(base)}/login">
  <h1>Log in to Conveyor</h1>
  ${error ? `<div class="flash bad" role="alert">${esc(error)}</div>` : ''}
  <input type="hidden" name="next" value="${esc(next)}">
  <div class="field"><label for="user">User</label><input type="text" id="user" name="user" autocomplete="username" required autofocus></div>
  <div class="field"><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required></div>
  <button class="btn primary" type="submit">Log in</button>
</form></div>`,
  );
}

export function loginRoutes(ctx: BoardContext, keeper: SessionKeeper, limiter: LoginLimiter): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });

  router.get('/login', async (req: Request, res: Response) => {
    const base = baseOf(res);
    // Already logged in: go straight on.
    if (await keeper.check(readCookie(req, SESSION_COOKIE))) {
      res.redirect(302, safeNext(req.query.next, base));
      return;
    }
    res.type('html').send(loginPage(base, safeNext(req.query.next, base)));
  });

  router.post('/login', form, async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const user = typeof body.user === 'string' ? body.user.slice(0, 128) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const base = baseOf(res);
    const next = safeNext(body.next, base);
    const ip = req.ip ?? 'unknown';
    const wait = await limiter.retryAfterMs(ip, user);
    if (wait > 0) {
      const err = new ConveyorError('LOGIN_RATE_LIMITED', `Too many failed logins. Try again in ${Math.ceil(wait / 60_000)} min.`);
      await audit(ctx, req, res, { action: 'login.limited', target: user, outcome: 'refused' });
      res.status(err.status).set('Retry-After', String(Math.ceil(wait / 1000))).type('html').send(loginPage(base, next, err.message));
      return;
    }
    const role = keeper.checkLogin(user, password);
    if (!role) {
      await limiter.fail(ip, user);
      ctx.log.warn({ user, ip }, 'dashboard login failed');
      await audit(ctx, req, res, { action: 'login.failed', target: user, outcome: 'refused' });
      res.status(401).type('html').send(loginPage(base, next, 'Wrong user or password.'));
      return;
    }
    await limiter.succeed(ip);
    const { value, session } = keeper.issue(user, role);
    setSessionCookie(req, res, value);
    ctx.log.info({ user, role, ip }, 'dashboard login');
    stateOf(res).session = session;
    await audit(ctx, req, res, { action: 'login', outcome: 'ok' });
    res.redirect(303, next);
  });

  // Logout changes state, so it carries the CSRF token too (checked here: it sits before the global gate).
  router.post('/logout', form, async (req: Request, res: Response) => {
    const session = await keeper.check(readCookie(req, SESSION_COOKIE));
    if (session) {
      const given = (req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD] ?? req.headers['x-csrf-token'];
      if (typeof given !== 'string' || !safeEqual(given, keeper.csrfToken(session))) {
        throw new ConveyorError('CSRF_TOKEN_INVALID', 'Logout came without a valid CSRF token. Reload the page and try again.');
      }
      await keeper.revoke(session);
      stateOf(res).session = session;
      ctx.log.info({ user: session.user }, 'dashboard logout');
      await audit(ctx, req, res, { action: 'logout', outcome: 'ok' });
    }
    clearSessionCookie(req, res);
    res.redirect(303, `${baseOf(res)}/login`);
  });

  return router;
}
