/**
 * Misconfiguration against one endpoint, end to end: for the server, the
 * worker and the dashboard, a plain URL to a TLS-only port, a TLS URL to a
 * plain port, a missing CA, a wrong password, an unknown ACL user and an
 * address where nothing listens each end the process within 10 s with one
 * stderr line naming the fix (timings printed).
 */
import { test, before, after } from 'node:test';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { startTlsRedis, type TlsRedis } from '../shared/testing/tls-certs.ts';
import { aclArgs } from '../shared/testing/acl.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { assertAllClear, failedStarts } from './start-failure.ts';

const PASSWORD = 'misconfig-secret-pw';
let plain: RedisProcess;
let tls: TlsRedis;

before(async () => {
  [plain, tls] = await Promise.all([
    startRedis({ password: PASSWORD, args: aclArgs([{ name: 'conveyor', password: 'acl-secret-pw' }]) }),
    startTlsRedis(),
  ]);
});
after(async () => {
  await Promise.all([plain?.stop(), tls?.stop()]);
});

test('redis:// to a TLS-only port: REDIS_TLS_MISMATCH "use rediss://", fast', async () => {
  const f = await failedStarts({ REDIS_URL: `redis://127.0.0.1:${tls.port}` });
  assertAllClear('plain→TLS', f, 'REDIS_TLS_MISMATCH', [/closes every connection at once/, /use rediss:\/\//]);
});

test('rediss:// to a plain port: REDIS_TLS_MISMATCH "use redis://"', async () => {
  const f = await failedStarts({ REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${plain.port}` });
  assertAllClear('TLS→plain', f, 'REDIS_TLS_MISMATCH', [/use redis:\/\/ instead of rediss:\/\//], [PASSWORD]);
});

test('rediss:// without REDIS_TLS_CA for a private CA: "set REDIS_TLS_CA"', async () => {
  const f = await failedStarts({ REDIS_URL: `rediss://127.0.0.1:${tls.port}` });
  assertAllClear('no CA', f, 'REDIS_TLS_MISMATCH', [/certificate .* is not trusted/, /set REDIS_TLS_CA/]);
});

test('a wrong password: REDIS_AUTH_FAILED, the password never printed', async () => {
  const f = await failedStarts({ REDIS_URL: `redis://:not-${PASSWORD}@127.0.0.1:${plain.port}` });
  assertAllClear('wrong password', f, 'REDIS_AUTH_FAILED', [/refused the credentials/, /redis:\/\/:\*\*\*@127\.0\.0\.1/], [`not-${PASSWORD}`]);
});

test('an unknown ACL user: REDIS_AUTH_FAILED naming the user', async () => {
  const f = await failedStarts({ REDIS_URL: `redis://nobody:acl-secret-pw@127.0.0.1:${plain.port}` });
  assertAllClear('unknown user', f, 'REDIS_AUTH_FAILED', [/ACL user "nobody" does not exist or is disabled/], ['acl-secret-pw']);
});

test('nothing listening: REDIS_UNAVAILABLE "start Redis or fix the host and port"', async () => {
  const port = await freePort();
  const f = await failedStarts({ REDIS_URL: `redis://127.0.0.1:${port}` });
  assertAllClear('nothing listening', f, 'REDIS_UNAVAILABLE', [/Nothing is listening/, /ECONNREFUSED/]);
});
