/**
 * API_RATE_LIMIT: requests per second per token, as a token bucket holding one
 * second's worth (so a client may burst to the limit, then keeps to the
 * rate). Over the limit: 429 RATE_LIMITED with Retry-After in whole seconds.
 * In memory, per server process: behind a balancer with n servers a token
 * gets up to n times the rate; Redis is not asked per request.
 */
import type { RequestHandler } from 'express';
import { ConveyorError } from '../shared/errors.ts';
import { principalOf } from './auth.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets idle this long are full again and are dropped (the map stays as small as the set of tokens in use). */
const IDLE_MS = 60_000;

export interface RateLimitOptions {
  /**
   * The clock, in ms (default performance.now: monotonic, unmoved by changes
   * of the wall clock). Tests give a fake one, so that what passes depends on
   * the time they say, not on how fast the machine answers.
   */
  now?: (() => number) | undefined;
}

export function rateLimit(perSecond: number, options: RateLimitOptions = {}): RequestHandler {
  if (perSecond <= 0) return (_req, _res, next) => next();
  const now = options.now ?? (() => performance.now());
  const buckets = new Map<string, Bucket>();
  let lastSweep = now();
  return (_req, res, next) => {
    const t = now();
    if (t - lastSweep > IDLE_MS) {
      for (const [k, b] of buckets) if (t - b.at > IDLE_MS) buckets.delete(k);
      lastSweep = t;
    }
    const key = principalOf(res).name;
    const b = buckets.get(key) ?? { tokens: perSecond, at: t };
    b.tokens = Math.min(perSecond, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      next();
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
    res.set('Retry-After', String(retryAfter));
    next(new ConveyorError('RATE_LIMITED', `the token "${key}" sent more than API_RATE_LIMIT=${perSecond} requests per second; retry after ${retryAfter} s`, { limit: perSecond, retryAfter }));
  };
}
