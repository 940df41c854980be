/** GET/POST /login and POST /logout (only mounted when a user and password are configured). */
import express, { Router, type Request, type Response } from 'express';
import type { Logger } from '#shared/log.ts';
import {
  SESSION_COOKIE,
  clearSessionCookie,
  readCookie,
  safeNext,
  setSessionCookie,
  type SessionKeeper,
} from '../auth.ts';
import { esc, page } from './layout.ts';

export function loginPage(next: string, error?: string): string {
  return page(
    { title: 'Log in', nav: false },
    `<form class="card" method="post" action="/login">
  <h1>Log in</h1>
  ${error ? `<p class="bad" role="alert">${esc(error)}</p>` : ''}
  <input type="hidden" name="next" value="${esc(next)}">
  <label for="user">User</label>
  <input id="user" name="user" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Log in</button>
</form>`,
  );
}

export function loginRoutes(keeper: SessionKeeper, log: Logger): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });

  router.get('/login', (req: Request, res: Response) => {
    // Already logged in: go straight on.
    if (keeper.verify(readCookie(req, SESSION_COOKIE))) {
      res.redirect(302, safeNext(req.query.next));
      return;
    }
    res.type('html').send(loginPage(safeNext(req.query.next)));
  });

  router.post('/login', form, (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const user = typeof body.user === 'string' ? body.user : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const next = safeNext(body.next);
    if (!keeper.checkLogin(user, password)) {
      log.warn({ user: user.slice(0, 64), ip: req.ip }, 'dashboard login failed');
      res.status(401).type('html').send(loginPage(next, 'Wrong user or password.'));
      return;
    }
    const { value } = keeper.issue(user);
    setSessionCookie(req, res, value);
    log.info({ user, ip: req.ip }, 'dashboard login');
    res.redirect(303, next);
  });

  router.post('/logout', (req: Request, res: Response) => {
    const session = keeper.verify(readCookie(req, SESSION_COOKIE));
    if (session) {
      keeper.revoke(session);
      log.info({ user: session.user }, 'dashboard logout');
    }
    clearSessionCookie(req, res);
    res.redirect(303, '/login');
  });

  return router;
}
