/**
 * Bearer-token auth for /v1. Tokens come from API_TOKENS; each has scopes
 * (enqueue, read, admin). Comparison is constant-time: both sides are hashed
 * to equal-length digests and compared with timingSafeEqual, and every
 * configured token is compared, so timing tells nothing about which (or how
 * much of a) token matched. With no tokens configured every request passes
 * (the server then listens on 127.0.0.1 only).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ALL_SCOPES, type ApiToken, type Scope } from '#shared/config/config.ts';
import { ConveyorError } from '#shared/errors.ts';

export interface Principal {
  name: string;
  scopes: readonly Scope[];
}

const ANONYMOUS: Principal = { name: 'anonymous', scopes: ALL_SCOPES };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Authenticates every request it sees; the principal goes to res.locals.principal. */
export function authenticate(tokens: readonly ApiToken[]): RequestHandler {
  const known = tokens.map((t) => ({ principal: { name: t.name, scopes: t.scopes }, digest: digest(t.token) }));
  return (req, res, next) => {
    if (known.length === 0) {
      res.locals.principal = ANONYMOUS;
      next();
      return;
    }
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!m) {
      next(new ConveyorError('UNAUTHORIZED', 'send an API token: Authorization: Bearer <token>'));
      return;
    }
    const given = digest(m[1]!);
    let found: Principal | undefined;
    for (const k of known) {
      // No early exit: every token costs the same.
      if (timingSafeEqual(given, k.digest) && !found) found = k.principal;
    }
    if (!found) {
      next(new ConveyorError('UNAUTHORIZED', 'the API token is not valid'));
      return;
    }
    res.locals.principal = found;
    next();
  };
}

export function principalOf(res: Response): Principal {
  return (res.locals.principal as Principal | undefined) ?? { name: 'nobody', scopes: [] };
}

/** Lets the request through only when its token has the scope. */
export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    const p = principalOf(res);
    if (p.scopes.includes(scope)) {
      next();
      return;
    }
    next(new ConveyorError('FORBIDDEN', `the token "${p.name}" lacks the "${scope}" scope this request needs (it has: ${p.scopes.join(', ') || 'none'})`));
  };
}
