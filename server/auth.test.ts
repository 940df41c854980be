import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Request, Response } from 'express';
import { parseApiTokens } from '../shared/config/config.ts';
import { allows, allowsAll, type Principal } from './auth.ts';
import { rateLimit } from './rate-limit.ts';

const principal = (entry: string): Principal => {
  const [t] = parseApiTokens(entry);
  return { name: t!.name, scopes: t!.scopes, grants: t!.grants };
};

test('queue patterns: * is any run of queue-name characters; other characters are literal', () => {
  const p = principal('p:token-123456789:enqueue@emails.*+read@*-reports+admin@exact');
  assert.equal(allows(p, 'enqueue', 'emails.welcome'), true);
  assert.equal(allows(p, 'enqueue', 'emails.'), true);
  assert.equal(allows(p, 'enqueue', 'emails'), false);
  assert.equal(allows(p, 'enqueue', 'emailsXwelcome'), false, 'the dot is literal');
  assert.equal(allows(p, 'enqueue', 'billing.emails.x'), false, 'anchored');
  assert.equal(allows(p, 'read', 'daily-reports'), true);
  assert.equal(allows(p, 'read', 'daily-reports-2'), false);
  assert.equal(allows(p, 'admin', 'exact'), true);
  assert.equal(allows(p, 'admin', 'exact2'), false);
  assert.equal(allows(p, 'enqueue'), true, 'some queue');
  assert.equal(allowsAll(p, 'enqueue'), false);
  const bare = principal('bare-token-123456');
  assert.equal(allowsAll(bare, 'admin'), true);
  assert.equal(allows(bare, 'admin', 'anything'), true);
  assert.equal(allowsAll(principal('p:token-123456789:read@*'), 'read'), true, 'read@* is every queue');
});

function limiter(perSecond: number) {
  let now = 0;
  const mw = rateLimit(perSecond, () => now);
  const call = (name: string) => {
    let err: any;
    const headers: Record<string, string> = {};
    const res = { locals: { principal: { name, scopes: [], grants: [] } }, set: (k: string, v: string) => (headers[k] = v) } as unknown as Response;
    mw({} as Request, res, (e?: unknown) => (err = e));
    return { err, headers };
  };
  return { call, advance: (ms: number) => (now += ms) };
}

test('rate limit: a bucket of one second, refilled at the rate, per token; Retry-After in whole seconds', () => {
  const l = limiter(5);
  for (let i = 0; i < 5; i++) assert.equal(l.call('a').err, undefined, `request ${i + 1}`);
  const over = l.call('a');
  assert.equal(over.err?.code, 'RATE_LIMITED');
  assert.equal(over.headers['Retry-After'], '1');
  assert.equal(l.call('b').err, undefined, 'another token has its own bucket');
  l.advance(200); // one more token
  assert.equal(l.call('a').err, undefined);
  assert.equal(l.call('a').err?.code, 'RATE_LIMITED');
  const off = limiter(0);
  for (let i = 0; i < 100; i++) assert.equal(off.call('a').err, undefined);
});
