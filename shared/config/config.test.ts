import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, describeConfig, parseApiTokens } from './config.ts';
import { isConveyorError } from '../errors.ts';

/** loadConfig(env) must throw CONFIG_INVALID whose message names `variable` (and matches `why`). */
function rejects(env: Record<string, string>, variable: string, why?: RegExp): void {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(isConveyorError(err, 'CONFIG_INVALID'), `expected CONFIG_INVALID for ${JSON.stringify(env)}, got ${String(err)}`);
      assert.ok(err.message.includes(variable), `"${err.message}" does not name ${variable}`);
      assert.equal(err.details?.variable, variable);
      if (why) assert.match(err.message, why);
      return true;
    },
  );
}

test('defaults follow the SPEC table', () => {
  const c = loadConfig({});
  assert.equal(c.apiPort, 3000);
  assert.equal(c.dashboardPort, 3001);
  assert.deepEqual(c.queues, ['default']);
  assert.equal(c.concurrency, 10);
  assert.equal(c.enqueueMinReplicas, 0);
  assert.equal(c.maxPayloadBytes, 524288);
  assert.deepEqual(c.httpAllowedHosts, ['*']);
  assert.equal(c.shutdownGraceMs, 30000);
  assert.equal(c.handlersPath, undefined);
  assert.deepEqual(c.apiTokens, []);
  assert.equal(c.dashboardUser, undefined);
  assert.deepEqual(c.interop, []);
  assert.deepEqual(c.drainRedisUrls, []);
  assert.equal(c.lockDurationMs, 10000);
  assert.equal(c.stalledIntervalMs, 5000);
  assert.equal(c.logLevel, 'info');
  // REDIS_URL unset: npm start's local Redis on 6380, never 6379.
  assert.equal(c.redisUrlExplicit, false);
  assert.equal(c.redis.kind === 'standalone' && c.redis.port, 6380);
});

test('empty values mean the default, like unset ones', () => {
  const c = loadConfig({ API_PORT: '', QUEUES: ' , ', CONCURRENCY: ' ', HTTP_ALLOWED_HOSTS: '', REDIS_URL: '' });
  assert.equal(c.apiPort, 3000);
  assert.deepEqual(c.queues, ['default']);
  assert.equal(c.concurrency, 10);
  assert.deepEqual(c.httpAllowedHosts, ['*']);
  assert.equal(c.redisUrlExplicit, false);
});

test('values are read, trimmed and deduplicated', () => {
  const c = loadConfig({
    REDIS_URL: 'redis://r:6390/2',
    API_PORT: '8080',
    QUEUES: 'emails, webhooks ,emails',
    CONCURRENCY: '50',
    HANDLERS: ' ./jobs ',
    INTEROP: 'Sidekiq,resque',
    HTTP_ALLOWED_HOSTS: '*.example.com, hooks.slack.com',
    SHUTDOWN_GRACE_MS: '0',
    LOG_LEVEL: 'DEBUG',
  });
  assert.equal(c.redisUrlExplicit, true);
  assert.equal(c.redis.kind === 'standalone' && c.redis.db, 2);
  assert.equal(c.apiPort, 8080);
  assert.deepEqual(c.queues, ['emails', 'webhooks']);
  assert.equal(c.concurrency, 50);
  assert.equal(c.handlersPath, './jobs');
  assert.deepEqual(c.interop, ['sidekiq', 'resque']);
  assert.deepEqual(c.httpAllowedHosts, ['*.example.com', 'hooks.slack.com']);
  assert.equal(c.shutdownGraceMs, 0);
  assert.equal(c.logLevel, 'debug');
});

test('numbers that are not whole numbers or out of range are CONFIG_INVALID naming the variable', () => {
  rejects({ CONCURRENCY: 'abc' }, 'CONCURRENCY', /expected a whole number/);
  rejects({ CONCURRENCY: '0' }, 'CONCURRENCY', /from 1 to/);
  rejects({ CONCURRENCY: '2.5' }, 'CONCURRENCY');
  rejects({ API_PORT: '70000' }, 'API_PORT', /from 0 to 65535/);
  rejects({ DASHBOARD_PORT: '-1' }, 'DASHBOARD_PORT');
  rejects({ ENQUEUE_MIN_REPLICAS: 'two' }, 'ENQUEUE_MIN_REPLICAS');
  rejects({ MAX_PAYLOAD_BYTES: '0' }, 'MAX_PAYLOAD_BYTES');
  rejects({ SHUTDOWN_GRACE_MS: '30s' }, 'SHUTDOWN_GRACE_MS');
  rejects({ LOCK_DURATION_MS: '10' }, 'LOCK_DURATION_MS');
});

test('QUEUES with a bad name is CONFIG_INVALID', () => {
  rejects({ QUEUES: 'ok,not ok' }, 'QUEUES', /"not ok".*A-Z a-z 0-9/);
  rejects({ QUEUES: 'a'.repeat(65) }, 'QUEUES');
  rejects({ QUEUES: 'emails:high' }, 'QUEUES');
});

test('INTEROP=foo is CONFIG_INVALID', () => {
  rejects({ INTEROP: 'foo' }, 'INTEROP', /sidekiq, resque/);
  rejects({ INTEROP: 'sidekiq,celery' }, 'INTEROP');
});

test('HTTP_ALLOWED_HOSTS with something that is not a host pattern is CONFIG_INVALID', () => {
  rejects({ HTTP_ALLOWED_HOSTS: 'https://example.com/x' }, 'HTTP_ALLOWED_HOSTS');
});

test('API_TOKENS: bare tokens get every scope; named tokens their own', () => {
  const tokens = parseApiTokens('aaaaaaaaaaaa, ci:bbbbbbbbbbbb:enqueue+read , ops:cccccccccccc:admin');
  assert.deepEqual(tokens.map((t) => [t.name, t.token, [...t.scopes]]), [
    ['token1', 'aaaaaaaaaaaa', ['enqueue', 'read', 'admin']],
    ['ci', 'bbbbbbbbbbbb', ['enqueue', 'read']],
    ['ops', 'cccccccccccc', ['admin']],
  ]);
});

test('API_TOKENS: a malformed entry, an unknown scope, a short token, duplicate names are CONFIG_INVALID without the token', () => {
  const cases: [string, RegExp][] = [
    ['ci:secret-token-1', /entry 1 is invalid: each entry is "token" or "name:token:scope/],
    ['good-token-1,ci::read', /entry 2 is invalid/],
    ['ci:secret-token-1:read:x', /entry 1 is invalid/],
    ['ci:secret-token-1:write', /entry 1 \("ci"\).*unknown scope "write"/],
    ['ci:secret-token-1:read+', /unknown scope ""/],
    ['ci:short:read', /entry 1 \("ci"\).*at least 8 characters/],
    ['short', /entry 1 is invalid: a token must be at least 8 characters/],
    ['ci:secret-token-1:read,ci:secret-token-2:admin', /entry 2 \("ci"\).*names must be unique/],
    ['a:secret-token-1:read,b:secret-token-1:admin', /entry 2 \("b"\).*same token appears twice/],
  ];
  for (const [raw, why] of cases) {
    assert.throws(
      () => loadConfig({ API_TOKENS: raw }),
      (err: unknown) => {
        assert.ok(isConveyorError(err, 'CONFIG_INVALID'), raw);
        assert.match(err.message, /^API_TOKENS /, raw);
        assert.match(err.message, why, raw);
        assert.ok(!/secret-token|short/.test(err.message.replace(/short token|characters/g, '')), `token leaked: ${err.message}`);
        return true;
      },
    );
  }
});

test('DASHBOARD_USER without DASHBOARD_PASSWORD (and the reverse) is CONFIG_INVALID naming the missing one', () => {
  rejects({ DASHBOARD_USER: 'admin' }, 'DASHBOARD_PASSWORD', /DASHBOARD_USER is set but DASHBOARD_PASSWORD is not/);
  rejects({ DASHBOARD_PASSWORD: 'pw-123456' }, 'DASHBOARD_USER', /DASHBOARD_PASSWORD is set but DASHBOARD_USER is not/);
  const c = loadConfig({ DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: 'pw-123456' });
  assert.equal(c.dashboardUser, 'admin');
});

test('LOG_LEVEL=loud is CONFIG_INVALID', () => {
  rejects({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /fatal, error, warn, info, debug, trace, silent/);
});

test('REDIS_TLS_CA that cannot be read is CONFIG_INVALID; a readable one is loaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
  try {
    rejects({ REDIS_TLS_CA: join(dir, 'missing.pem') }, 'REDIS_TLS_CA', /cannot read the file/);
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    const c = loadConfig({ REDIS_URL: 'rediss://h:6380', REDIS_TLS_CA: join(dir, 'ca.pem') });
    assert.match(c.redisTlsCa ?? '', /BEGIN CERTIFICATE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad REDIS_URL or DRAIN_REDIS_URLS entry is REDIS_URL_INVALID naming its variable', () => {
  assert.throws(() => loadConfig({ REDIS_URL: 'redis://h:99999' }), (e: unknown) => isConveyorError(e, 'REDIS_URL_INVALID') && /^REDIS_URL /.test(e.message));
  assert.throws(
    () => loadConfig({ DRAIN_REDIS_URLS: 'redis://old:6379,redis://:pw-secret@other:99999' }),
    (e: unknown) => isConveyorError(e, 'REDIS_URL_INVALID') && /^DRAIN_REDIS_URLS "redis:\/\/:\*\*\*@other:99999" .*port 99999/.test(e.message),
  );
});

test('the config is frozen all the way down', () => {
  const c = loadConfig({ REDIS_URL: 'redis-sentinel://s1,s2#m', API_TOKENS: 'ci:secret-token-1:read', QUEUES: 'a,b' });
  assert.ok(Object.isFrozen(c));
  assert.throws(() => {
    (c as { concurrency: number }).concurrency = 99;
  }, TypeError);
  assert.throws(() => (c.queues as string[]).push('c'), TypeError);
  assert.throws(() => {
    (c.redis as { password?: string }).password = 'x';
  }, TypeError);
  assert.throws(() => {
    (c.redis.kind === 'sentinel' ? (c.redis.sentinels[0] as { port: number }) : { port: 0 }).port = 1;
  }, TypeError);
  assert.throws(() => {
    (c.apiTokens[0] as { token: string }).token = 'x';
  }, TypeError);
  assert.throws(() => (c.apiTokens[0]!.scopes as string[]).push('admin'), TypeError);
});

test('describeConfig never contains a password or a token', () => {
  const secrets = ['redis-pass-1', 'drain-pass-2', 'tok-aaaaaaaa', 'tok-bbbbbbbb', 'dash-pass-3'];
  const c = loadConfig({
    REDIS_URL: 'redis://app:redis-pass-1@h:6379',
    DRAIN_REDIS_URLS: 'redis-sentinel://:drain-pass-2@s1,s2#old',
    API_TOKENS: 'tok-aaaaaaaa,ci:tok-bbbbbbbb:enqueue',
    DASHBOARD_USER: 'admin',
    DASHBOARD_PASSWORD: 'dash-pass-3',
  });
  const text = JSON.stringify(describeConfig(c));
  for (const s of secrets) assert.ok(!text.includes(s), `${s} leaked: ${text}`);
  // ...yet it still says what is configured.
  assert.match(text, /redis:\/\/app:\*\*\*@h:6379/);
  assert.match(text, /ci:\*\*\*:enqueue/);
  assert.match(text, /"dashboardUser":"admin"/);
});

test('DRAIN_REDIS_URLS holds several URLs, Sentinel and Cluster ones with commas of their own', () => {
  const c = loadConfig({ DRAIN_REDIS_URLS: 'redis://old:6379, redis-sentinel://s1:26379,s2:26379#old,redis-cluster://n1:7000,n2:7000' });
  assert.deepEqual(c.drainRedisUrls.map((t) => t.kind), ['standalone', 'sentinel', 'cluster']);
  const s = c.drainRedisUrls[1]!;
  assert.equal(s.kind === 'sentinel' && s.sentinels.length, 2);
});
