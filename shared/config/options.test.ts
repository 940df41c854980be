/**
 * Conveyor.connect({ … }) options: each stands for one environment variable
 * and gets exactly its default and validation; errors speak of the option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConveyorError } from '../errors.ts';
import { loadConfig } from './config.ts';
import { configFromOptions, OPTION_VARIABLES } from './options.ts';

test('options give the same Config as the variables they stand for', () => {
  const fromOptions = configFromOptions({
    redisUrl: 'redis://cache.internal:6390/2',
    queues: ['emails', 'reports'],
    concurrency: 25,
    httpAllowedHosts: ['*.example.com'],
    shutdownGraceMs: 1000,
    enqueueMinReplicas: 1,
  });
  const fromEnv = loadConfig({
    REDIS_URL: 'redis://cache.internal:6390/2',
    QUEUES: 'emails,reports',
    CONCURRENCY: '25',
    HTTP_ALLOWED_HOSTS: '*.example.com',
    SHUTDOWN_GRACE_MS: '1000',
    ENQUEUE_MIN_REPLICAS: '1',
  });
  assert.deepEqual(fromOptions, fromEnv);
  assert.equal(fromOptions.queuesExplicit, true);
  // Nothing given: every default, and no process.env read.
  assert.deepEqual(configFromOptions({}), loadConfig({}));
});

test('a bad option is CONFIG_INVALID naming the option, not the variable', () => {
  assert.throws(() => configFromOptions({ concurrency: 0 }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /^concurrency=/.test(e.message) && e.details?.option === 'concurrency' && !/CONCURRENCY/.test(e.message));
  assert.throws(() => configFromOptions({ redisUrl: 'http://x' }), (e) => isConveyorError(e, 'REDIS_URL_INVALID') && /^redisUrl "http:\/\/x" is invalid/.test(e.message));
  assert.throws(() => configFromOptions({ dashboardUser: 'admin' }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /dashboardUser is set but dashboardPassword is not/.test(e.message));
  assert.throws(() => configFromOptions({ concurrency: Number.NaN }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /concurrency/.test(e.message));
  assert.throws(() => configFromOptions({ queues: 'emails' as never, concurrency: true as never }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /concurrency/.test(e.message) && /boolean/.test(e.message));
  assert.throws(() => configFromOptions({ queues: ['a,b'] }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /queues/.test(e.message) && /comma/.test(e.message));
});

test('an unknown option (a typo) is refused, not ignored; the extras a caller declares pass', () => {
  assert.throws(() => configFromOptions({ redisURL: 'redis://x' } as never), (e) => isConveyorError(e, 'CONFIG_INVALID') && /redisURL/.test(e.message) && /there is no such option/.test(e.message));
  assert.doesNotThrow(() => configFromOptions({ jobs: [] } as never, new Set(['jobs'])));
});

test('every option names a variable loadConfig reads, and no two options share one', () => {
  const vars = Object.values(OPTION_VARIABLES);
  assert.equal(new Set(vars).size, vars.length);
  for (const [option, variable] of Object.entries(OPTION_VARIABLES)) {
    // A value loadConfig rejects for this variable shows it is read (defaults are never rejected).
    const bad = { [variable]: variable === 'REDIS_URL' ? 'nope://' : variable === 'LOG_LEVEL' ? 'loud' : variable.endsWith('_MS') || /PORT|MAX|CONCURRENCY|REPLICAS|RATE_LIMIT|DEPTH/.test(variable) ? 'not-a-number' : undefined };
    if (bad[variable] === undefined) continue;
    assert.throws(() => loadConfig(bad), `${variable} (${option}) is validated`);
  }
});
