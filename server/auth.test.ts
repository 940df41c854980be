import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseApiTokens } from '../shared/config/config.ts';
import { allows, allowsAll, type Principal } from './auth.ts';

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
