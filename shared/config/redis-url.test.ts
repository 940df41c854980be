import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRedisUrl, redactUrl } from './redis-url.ts';
import { isConveyorError } from '../errors.ts';

function invalid(url: string, why: RegExp, variable = 'REDIS_URL'): void {
  assert.throws(
    () => parseRedisUrl(url, variable),
    (err: unknown) => {
      assert.ok(isConveyorError(err, 'REDIS_URL_INVALID'), `expected REDIS_URL_INVALID for ${url}, got ${String(err)}`);
      assert.match(err.message, why);
      assert.match(err.message, new RegExp(`^${variable} "`));
      // Every message shows the accepted forms, so the fix is in the message.
      assert.match(err.message, /Expected redis:\/\//);
      return true;
    },
  );
}

test('redis://host:port is one endpoint on db 0 without TLS or credentials', () => {
  const t = parseRedisUrl('redis://cache.internal:6380');
  assert.equal(t.kind, 'standalone');
  if (t.kind !== 'standalone') return;
  assert.equal(t.host, 'cache.internal');
  assert.equal(t.port, 6380);
  assert.equal(t.db, 0);
  assert.equal(t.tls, false);
  assert.equal(t.username, undefined);
  assert.equal(t.password, undefined);
  assert.equal(t.redacted, 'redis://cache.internal:6380');
});

test('the port defaults to 6379 and the scheme is case-insensitive', () => {
  const t = parseRedisUrl('  REDIS://localhost  ');
  assert.equal(t.kind === 'standalone' && t.port, 6379);
});

test('rediss:// turns TLS on', () => {
  const t = parseRedisUrl('rediss://master.abc.cache.amazonaws.com:6379');
  assert.equal(t.kind, 'standalone');
  assert.equal(t.tls, true);
});

test('user:password@ gives both, %-decoded, and the redacted URL hides the password', () => {
  const t = parseRedisUrl('redis://app:s%40cret%2Fx@h:1/3');
  assert.equal(t.username, 'app');
  assert.equal(t.password, 's@cret/x');
  assert.equal(t.kind === 'standalone' && t.db, 3);
  assert.equal(t.redacted, 'redis://app:***@h:1/3');
  assert.ok(!t.redacted.includes('cret'));
});

test(':password@ (no user) and the old password@ form give a password only', () => {
  const a = parseRedisUrl('redis://:hunter22@h');
  assert.equal(a.username, undefined);
  assert.equal(a.password, 'hunter22');
  assert.equal(a.redacted, 'redis://:***@h');
  const b = parseRedisUrl('redis://hunter22@h');
  assert.equal(b.username, undefined);
  assert.equal(b.password, 'hunter22');
  assert.equal(b.redacted, 'redis://***@h');
});

test('unescaped / ? # @ in a generated password still parse, and never leak into redacted', () => {
  for (const pw of ['ab/cd', 'ab?cd', 'ab#cd', 'a@b', 'x/y?z#w@v']) {
    const t = parseRedisUrl(`redis://default:${pw}@cache:6379/2`);
    assert.equal(t.password, pw, pw);
    assert.equal(t.kind === 'standalone' && t.host, 'cache', pw);
    assert.equal(t.kind === 'standalone' && t.db, 2, pw);
    assert.equal(t.redacted, 'redis://default:***@cache:6379/2', pw);
  }
});

test('/db and ?db= select the database', () => {
  assert.equal((parseRedisUrl('redis://h/15') as { db: number }).db, 15);
  assert.equal((parseRedisUrl('redis://h?db=7') as { db: number }).db, 7);
  assert.equal((parseRedisUrl('redis://h/') as { db: number }).db, 0);
});

test('an IPv6 address in brackets, with and without a port', () => {
  const a = parseRedisUrl('redis://[::1]:6390');
  assert.ok(a.kind === 'standalone' && a.host === '::1' && a.port === 6390);
  const b = parseRedisUrl('redis://:pw@[2001:db8::7]/1');
  assert.ok(b.kind === 'standalone' && b.host === '2001:db8::7' && b.port === 6379 && b.db === 1);
  assert.equal(b.redacted, 'redis://:***@[2001:db8::7]/1');
});

test('redis-sentinel:// with several sentinels, a db and #master', () => {
  const t = parseRedisUrl('redis-sentinel://u:pw@s1:26380,s2,[::1]:26381/4#mymaster');
  assert.equal(t.kind, 'sentinel');
  if (t.kind !== 'sentinel') return;
  assert.deepEqual(t.sentinels, [
    { host: 's1', port: 26380 },
    { host: 's2', port: 26379 },
    { host: '::1', port: 26381 },
  ]);
  assert.equal(t.masterName, 'mymaster');
  assert.equal(t.db, 4);
  assert.equal(t.tls, false);
  assert.equal(t.username, 'u');
  assert.equal(t.password, 'pw');
  assert.equal(t.redacted, 'redis-sentinel://u:***@s1:26380,s2,[::1]:26381/4#mymaster');
});

test('rediss-sentinel:// is Sentinel over TLS', () => {
  const t = parseRedisUrl('rediss-sentinel://s1:26379,s2:26379#prod');
  assert.equal(t.kind, 'sentinel');
  assert.equal(t.tls, true);
  assert.equal(t.kind === 'sentinel' && t.masterName, 'prod');
});

test('redis-cluster:// lists its seed nodes', () => {
  const t = parseRedisUrl('redis-cluster://:pw@n1:7000,n2:7001,n3:7002');
  assert.equal(t.kind, 'cluster');
  if (t.kind !== 'cluster') return;
  assert.deepEqual(t.nodes.map((n) => `${n.host}:${n.port}`), ['n1:7000', 'n2:7001', 'n3:7002']);
  assert.equal(t.password, 'pw');
  assert.equal(t.tls, false);
  assert.equal(parseRedisUrl('rediss-cluster://n1:7000').tls, true);
});

test('redactUrl hides passwords in any string, even one that does not parse', () => {
  assert.equal(redactUrl('redis://u:p@h'), 'redis://u:***@h');
  assert.equal(redactUrl('nonsense://:p/q@h'), 'nonsense://:***@h');
  assert.equal(redactUrl(':secret@host:6379'), ':***@host:6379');
  assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
});

test('a URL without a scheme is REDIS_URL_INVALID', () => {
  invalid('localhost:6379', /no scheme/);
  invalid('', /no scheme/);
});

test('an unknown scheme is REDIS_URL_INVALID naming it', () => {
  invalid('http://localhost:6379', /unknown scheme "http:\/\/"/);
  invalid('valkey://h', /unknown scheme/);
});

test('a bad port and a port out of range are REDIS_URL_INVALID', () => {
  invalid('redis://h:abc', /port "abc" is not a number/);
  invalid('redis://h:70000', /port 70000 is out of range 1-65535/);
  invalid('redis://h:0', /port 0 is out of range/);
  invalid('redis-sentinel://s1:1,s2:-5#m', /port "-5" is not a number/);
});

test('a db that is not a number, or above 15, is REDIS_URL_INVALID', () => {
  invalid('redis://h/zero', /database "zero" is not a number/);
  invalid('redis://h/16', /database 16 is out of range 0-15/);
  invalid('redis://h?db=99', /database 99 is out of range/);
  invalid('redis://h?db=x', /database "x" is not a number/);
  invalid('redis-cluster://h:1/2', /Cluster has only database 0/);
});

test('a Sentinel URL without #master is REDIS_URL_INVALID', () => {
  invalid('redis-sentinel://s1:26379,s2:26379', /needs the master name after "#"/);
  invalid('redis-sentinel://s1:26379#', /needs the master name/);
});

test('several hosts on redis:// are REDIS_URL_INVALID pointing to sentinel/cluster', () => {
  invalid('redis://a:1,b:2', /names one host \(use redis-sentinel:\/\/ or redis-cluster:\/\//);
  invalid('redis://a#m', /"#name" belongs to redis-sentinel/);
});

test('a bad %-escape in the user or password is REDIS_URL_INVALID and does not leak the password', () => {
  assert.throws(
    () => parseRedisUrl('redis://u:pa%zzword@h'),
    (err: unknown) => isConveyorError(err, 'REDIS_URL_INVALID') && /password has a bad %-escape/.test(err.message) && !err.message.includes('pa%zz'),
  );
  invalid('redis://u%G1:pw@h', /user has a bad %-escape/);
});

test('an unknown query parameter is REDIS_URL_INVALID (typos are not ignored)', () => {
  invalid('redis://h?tls=true', /unsupported query parameter "tls"/);
  invalid('redis://h/0?db=1&timeout=5', /unsupported query parameter "timeout"/);
});

test('an empty host is REDIS_URL_INVALID', () => {
  invalid('redis://', /names no host/);
  invalid('redis://:pw@/0', /names no host/);
  invalid('redis://:6379', /host name is empty/);
  invalid('redis-sentinel://s1,,s2#m', /host name is empty/);
  invalid('redis://bad_host!:1', /characters a host name cannot have/);
  invalid('redis://[not-ipv6]:1', /not an IPv6 address/);
});

test('the message names the variable the URL came from, redacted', () => {
  assert.throws(
    () => parseRedisUrl('redis://u:topsecret@h:99999', 'DRAIN_REDIS_URLS'),
    (err: unknown) =>
      isConveyorError(err, 'REDIS_URL_INVALID') &&
      err.message.startsWith('DRAIN_REDIS_URLS "redis://u:***@h:99999" is invalid') &&
      !err.message.includes('topsecret') &&
      !JSON.stringify(err.details).includes('topsecret'),
  );
});

test('Sentinel credentials: the URL user/password are for the data nodes; ?sentinelPassword / sentinelUsername are the Sentinels\' own, redacted', () => {
  const plain = parseRedisUrl('redis-sentinel://:datapw@s1,s2#m');
  assert.ok(plain.kind === 'sentinel');
  assert.equal(plain.password, 'datapw');
  assert.equal(plain.sentinelPassword, undefined);
  assert.equal(plain.sentinelUsername, undefined);

  const own = parseRedisUrl('redis-sentinel://app:datapw@s1:26379,s2:26379?sentinelUsername=sent&sentinelPassword=s%40cret%26x#m');
  assert.ok(own.kind === 'sentinel');
  assert.equal(own.username, 'app');
  assert.equal(own.sentinelUsername, 'sent');
  assert.equal(own.sentinelPassword, 's@cret&x');
  assert.equal(own.redacted, 'redis-sentinel://app:***@s1:26379,s2:26379?sentinelUsername=sent&sentinelPassword=***#m');
  assert.ok(!own.redacted.includes('cret'));
  assert.equal(redactUrl('redis-sentinel://s1?db=1&sentinelPassword=abc#m'), 'redis-sentinel://s1?db=1&sentinelPassword=***#m');
});

test('?sentinelMasterId= names the master (Lettuce form); parameters after #master or on other schemes are REDIS_URL_INVALID', () => {
  const t = parseRedisUrl('redis-sentinel://s1:26379?sentinelMasterId=prod');
  assert.ok(t.kind === 'sentinel' && t.masterName === 'prod');
  invalid('redis-sentinel://s1?sentinelMasterId=a#b', /two master names/);
  invalid('redis-sentinel://s1#m?sentinelPassword=x', /go before the #master name/);
  invalid('redis://:pw@h?sentinelPassword=x', /"sentinelPassword" belongs to redis-sentinel/);
});
