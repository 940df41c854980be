/**
 * Bearer-token auth for /v1. Tokens come from API_TOKENS; each holds grants:
 * a scope (enqueue, read, admin) on every queue or on queues matching a
 * pattern (`enqueue@emails.*`). Comparison is constant-time: both sides are
 * hashed to equal-length digests and compared with timingSafeEqual, and every
 * configured token is compared, so timing tells nothing about which (or how
 * much of a) token matched. With no tokens configured every request passes
 * (the server then listens on 127.0.0.1 only). Tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ALL_SCOPES, type ApiToken, type Grant, type Scope } from '../shared/config/config.ts';
import { ConveyorError } from '../shared/errors.ts';
import { isValidQueueName } from '../shared/queue/names.ts';

export interface Principal {
  name: string;
  /** Scopes held on at least one queue. */
  scopes: readonly Scope[];
  grants: readonly Grant[];
}

const ANONYMOUS: Principal = { name: 'anonymous', scopes: ALL_SCOPES, grants: ALL_SCOPES.map((scope) => ({ scope, queues: undefined })) };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** `emails.*` → /^emails\.[A-Za-z0-9._-]*$/ ; `*` matches any run of queue-name characters. */
const patterns = new Map<string, RegExp>();
function patternRegExp(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.\-]/g, '\\$&').replace(/\*/g, '[A-Za-z0-9._-]*')}$`);
    patterns.set(pattern, re);
  }
  return re;
}

/** Does the principal hold the scope on this queue (or, without a queue, on any queue)? */
export function allows(p: Principal, scope: Scope, queue?: string): boolean {
  return p.grants.some((g) => g.scope === scope && (g.queues === undefined || queue === undefined || patternRegExp(g.queues).test(queue)));
}

/** Does the principal hold the scope on every queue (no pattern)? */
export function allowsAll(p: Principal, scope: Scope): boolean {
  return p.grants.some((g) => g.scope === scope && g.queues === undefined);
}

function where(p: Principal, scope: Scope): string {
  return p.grants
    .filter((g) => g.scope === scope)
    .map((g) => g.queues ?? '*')
    .join(', ');
}

/** Throws FORBIDDEN unless the principal holds the scope on the queue. */
export function assertQueueAllowed(res: Response, scope: Scope, queue: string): void {
  const p = principalOf(res);
  if (allows(p, scope, queue)) return;
  if (!allows(p, scope)) throw lacksScope(p, scope);
  throw new ConveyorError('FORBIDDEN', `the token "${p.name}" has the "${scope}" scope only on queues matching ${where(p, scope)}, not on "${queue}"`, { scope, queue });
}

/** A filter for lists: the queues on which the principal holds the scope. */
export function queueFilterOf(res: Response, scope: Scope): (queue: string) => boolean {
  const p = principalOf(res);
  if (allowsAll(p, scope)) return () => true;
  return (queue) => allows(p, scope, queue);
}

function lacksScope(p: Principal, scope: Scope): ConveyorError {
  const has = p.grants.map((g) => (g.queues ? `${g.scope}@${g.queues}` : g.scope)).join(', ') || 'none';
  return new ConveyorError('FORBIDDEN', `the token "${p.name}" lacks the "${scope}" scope this request needs (it has: ${has})`, { scope });
}

/** Authenticates every request it sees; the principal goes to res.locals.principal. */
export function authenticate(tokens: readonly ApiToken[]): RequestHandler {
  const known = tokens.map((t) => ({ principal: { name: t.name, scopes: t.scopes, grants: t.grants } as Principal, digest: digest(t.token) }));
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
  return (res.locals.principal as Principal | undefined) ?? { name: 'nobody', scopes: [], grants: [] };
}

/**
 * Lets the request through only when its token holds the scope: on the
 * route's :queue when it has one, else on some queue (the route then checks
 * or filters each queue it touches: assertQueueAllowed, queueFilterOf). An
 * invalid :queue goes on to the route, which answers 400 naming the rule.
 */
export function requireScope(scope: Scope): RequestHandler {
  return (req, res, next) => {
    const p = principalOf(res);
    if (!allows(p, scope)) {
      next(lacksScope(p, scope));
      return;
    }
    const queue = req.params.queue;
    if (typeof queue === 'string' && isValidQueueName(queue)) {
      try {
        assertQueueAllowed(res, scope, queue);
      } catch (err) {
        next(err);
        return;
      }
    }
    next();
  };
}
