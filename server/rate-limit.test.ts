/**
 * API_RATE_LIMIT's token bucket on a fake clock: exact counts for a given
 * time, whatever the speed of the machine (the HTTP test in
 * test/api-limits.redis.test.ts freezes the clock the same way).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Request, Response } from 'express';
import { rateLimit } from './rate-limit.ts';

function limiter(perSecond: number) {
  let now = 1_000_000;
  const mw = rateLimit(perSecond, { now: () => now });
  const call = (name: string) => {
    let err: any;
    let nextCalls = 0;
    const headers: Record<string, string> = {};
    const res = { locals: { principal: { name, scopes: [], grants: [] } }, set: (k: string, v: string) => (headers[k] = v) } as unknown as Response;
    mw({} as Request, res, (e?: unknown) => {
      nextCalls++;
      err = e;
    });
    assert.equal(nextCalls, 1, 'next is called once');
    return { err, headers, passed: err === undefined };
  };
  /** How many of n requests at this instant pass. */
  const burst = (name: string, n: number) => Array.from({ length: n }, () => call(name)).filter((r) => r.passed).length;
  return { call, burst, advance: (ms: number) => (now += ms) };
}

test('a full bucket holds one second of requests: exactly perSecond pass at one instant, then 429 RATE_LIMITED with Retry-After', () => {
  const l = limiter(20);
  assert.equal(l.burst('a', 40), 20);
  const over = l.call('a');
  assert.equal(over.err?.code, 'RATE_LIMITED');
  assert.equal(over.err?.status, 429);
  assert.match(over.err?.message, /API_RATE_LIMIT=20/);
  assert.deepEqual(over.err?.details, { limit: 20, retryAfter: 1 });
  assert.equal(over.headers['Retry-After'], '1');
});

test('the bucket refills at the rate: one request per 1/perSecond s, never more than a full bucket', () => {
  const l = limiter(5);
  assert.equal(l.burst('a', 5), 5);
  assert.equal(l.burst('a', 1), 0);
  l.advance(199);
  assert.equal(l.burst('a', 1), 0, 'not yet a whole token');
  l.advance(1);
  assert.equal(l.burst('a', 3), 1, 'one token after 200 ms');
  l.advance(600);
  assert.equal(l.burst('a', 10), 3, 'three after 600 ms more');
  l.advance(3_600_000);
  assert.equal(l.burst('a', 10), 5, 'an hour idle is still one full bucket');
});

test('each token has its own bucket; all anonymous callers share one', () => {
  const l = limiter(3);
  assert.equal(l.burst('a', 5), 3);
  assert.equal(l.burst('b', 5), 3, 'b is not slowed by a');
  assert.equal(l.burst('anonymous', 5), 3);
});

test('Retry-After is the whole seconds until a token is back: 1 for any whole rate (the config takes whole numbers), never 0', () => {
  for (const rate of [1, 7, 1000]) {
    const l = limiter(rate);
    assert.equal(l.burst('a', rate), rate);
    l.advance(1000 / rate / 2); // half a token back
    assert.equal(l.call('a').headers['Retry-After'], '1', `rate ${rate}`);
  }
});

test('buckets idle for a minute are dropped, and come back full', () => {
  const l = limiter(2);
  assert.equal(l.burst('a', 2), 2);
  l.advance(60_001);
  assert.equal(l.burst('b', 1), 1); // sweeps
  assert.equal(l.burst('a', 5), 2, 'a full bucket again');
});

test('API_RATE_LIMIT=0 (the default) limits nothing', () => {
  const off = limiter(0);
  assert.equal(off.burst('a', 1000), 1000);
});
