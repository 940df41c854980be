/**
 * The startup error for every misconfiguration, from the errors ioredis 6
 * really emits (recorded from spawned servers; see test/misconfig-*.test.ts
 * for the same cases end to end).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyConnectFailure, connectFailureOf, type Verdict } from './connect-failure.ts';

function verdict(redacted: string, err: Error, event: 'error' | 'sentinelError' = 'error', resets = 0): Verdict {
  return classifyConnectFailure(connectFailureOf(err, event), { redacted, timeoutMs: 5000, resets });
}
const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

test('wrong password and unknown ACL user: REDIS_AUTH_FAILED at once, naming the user', () => {
  const v = verdict('redis://bob:***@h:6379', new Error('WRONGPASS invalid username-password pair or user is disabled.'));
  assert.equal(v.fatal, true);
  assert.equal(v.error.code, 'REDIS_AUTH_FAILED');
  assert.match(v.error.message, /ACL user "bob" does not exist or is disabled/);
  const n = verdict('redis://h:6379', new Error('NOAUTH Authentication required.'));
  assert.equal(n.fatal, true);
  assert.match(n.error.message, /requires a password and REDIS_URL has none/);
});

test('TLS: an untrusted certificate, a wrong host name and a plain port behind rediss:// are fatal REDIS_TLS_MISMATCH', () => {
  const ca = verdict('rediss://h:6380', coded('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'));
  assert.ok(ca.fatal && ca.error.code === 'REDIS_TLS_MISMATCH');
  assert.match(ca.error.message, /set REDIS_TLS_CA/);
  const name = verdict('rediss://h:6380', coded("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'));
  assert.match(name.error.message, /does not name the host/);
  const proto = verdict('rediss://h:6379', new Error('write EPROTO 0020:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'));
  assert.ok(proto.fatal);
  assert.match(proto.error.message, /use redis:\/\//);
  // The Sentinel lookup keeps only the text.
  const s = verdict('rediss-sentinel://s:26379#m', new Error('failed to connect to sentinel s:26379 because self-signed certificate in certificate chain'), 'sentinelError');
  assert.ok(s.fatal && /Sentinels .* not trusted/.test(s.error.message));
});

test('redis:// to a TLS-only port: resets are fatal only once they repeat', () => {
  const once = verdict('redis://h:6380', coded('read ECONNRESET', 'ECONNRESET'), 'error', 1);
  assert.equal(once.fatal, false);
  const thrice = verdict('redis://h:6380', coded('read ECONNRESET', 'ECONNRESET'), 'error', 3);
  assert.ok(thrice.fatal && thrice.error.code === 'REDIS_TLS_MISMATCH');
  assert.match(thrice.error.message, /use rediss:\/\//);
});

test('nothing listening and an unresolvable host wait for the timeout (Redis may be starting)', () => {
  const r = verdict('redis://h:1', coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'));
  assert.equal(r.fatal, false);
  assert.match(r.error.message, /Nothing is listening at redis:\/\/h:1/);
  assert.equal(verdict('redis://nope:1', coded('getaddrinfo ENOTFOUND nope', 'ENOTFOUND')).fatal, false);
});

test('a timeout with nothing said: rediss:// suspects a plain port, redis:// a TLS-only one', () => {
  const tls = classifyConnectFailure(undefined, { redacted: 'rediss://h:6379', timeoutMs: 5000, resets: 0 });
  assert.match(tls.error.message, /No TLS handshake .* use redis:\/\/ instead of rediss:\/\//);
  const plain = classifyConnectFailure(undefined, { redacted: 'redis://h:6379', timeoutMs: 5000, resets: 0 });
  assert.match(plain.error.message, /if the server requires TLS \(ElastiCache Serverless/);
});

test('Sentinel: unknown master, a data node given as a Sentinel, auth and silence each have their own message', () => {
  const url = 'redis-sentinel://s1:26379,s2:26379#orders';
  const master = verdict(url, new Error('failed to connect to sentinel s1:26379 because ERR No such master with that name'), 'sentinelError');
  assert.ok(master.fatal && master.error.code === 'CONFIG_INVALID');
  assert.match(master.error.message, /do not monitor a master named "orders"/);
  const old = verdict(url, new Error('connected to sentinel s1:26379 successfully, but got an invalid reply: null'), 'sentinelError');
  assert.match(old.error.message, /do not monitor a master named/);
  const data = verdict(url, new Error("failed to connect to sentinel s1:26379 because ERR unknown command 'sentinel', with args beginning with: "), 'sentinelError');
  assert.match(data.error.message, /names a Redis data node, not a Sentinel/);
  const noauth = verdict(url, new Error('failed to connect to sentinel s1:26379 because NOAUTH HELLO must be called with the client already authenticated, otherwise ...'), 'sentinelError');
  assert.ok(noauth.fatal && noauth.error.code === 'REDIS_AUTH_FAILED');
  assert.match(noauth.error.message, /\(NOAUTH Authentication required \(HELLO\)\).*sentinelPassword/);
  const wrong = verdict(url, new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: WRONGPASS invalid username-password pair or user is disabled.'));
  assert.match(wrong.error.message, /Sentinels at .* refused the credentials.*\?sentinelPassword=/);
  const silent = verdict(url, coded('connect ECONNREFUSED 10.0.0.1:26379', 'ECONNREFUSED'), 'sentinelError');
  assert.equal(silent.fatal, false);
  assert.match(silent.error.message, /No Sentinel answered at .*default port is 26379/);
  // A refused connection to the primary the Sentinels named: the announce address is the likely culprit.
  const primary = verdict(url, coded('connect ECONNREFUSED 172.18.0.5:6379', 'ECONNREFUSED'));
  assert.match(primary.error.message, /name a primary that does not accept connections.*announce/);
});
