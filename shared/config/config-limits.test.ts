import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeConfig, loadConfig, parseApiTokens } from './config.ts';
import { isConveyorError } from '../errors.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6390' };

test('defaults: no metrics port, BULK_MAX 1000, no rate limit, 30 s request timeout, depth 64, tracing off', () => {
  const c = loadConfig(base);
  assert.deepEqual(
    [c.metricsPort, c.metricsHost, c.bulkMax, c.apiRateLimit, c.requestTimeoutMs, c.maxJsonDepth, c.tracing],
    [undefined, '0.0.0.0', 1000, 0, 30_000, 64, undefined],
  );
});

test('METRICS_PORT, BULK_MAX, API_RATE_LIMIT, REQUEST_TIMEOUT_MS, MAX_JSON_DEPTH are read and range-checked', () => {
  const c = loadConfig({ ...base, METRICS_PORT: '9464', BULK_MAX: '50', API_RATE_LIMIT: '100', REQUEST_TIMEOUT_MS: '5000', MAX_JSON_DEPTH: '16' });
  assert.deepEqual([c.metricsPort, c.bulkMax, c.apiRateLimit, c.requestTimeoutMs, c.maxJsonDepth], [9464, 50, 100, 5000, 16]);
  assert.equal(loadConfig({ ...base, METRICS_PORT: '0' }).metricsPort, 0, '0 = a free port');
  for (const [k, v] of [['METRICS_PORT', '70000'], ['BULK_MAX', '0'], ['API_RATE_LIMIT', '-1'], ['REQUEST_TIMEOUT_MS', 'soon'], ['MAX_JSON_DEPTH', '1']]) {
    assert.throws(() => loadConfig({ ...base, [k!]: v! }), (e) => isConveyorError(e, 'CONFIG_INVALID') && e.message.startsWith(`${k}=`), `${k}=${v}`);
  }
});

test('tracing: on with OTEL_EXPORTER_OTLP_ENDPOINT or CONVEYOR_OTEL=1; headers are secrets in describeConfig', () => {
  const c = loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret%3D,other=1', OTEL_SERVICE_NAME: 'jobs' });
  assert.deepEqual(c.tracing, { endpoint: 'https://otel.example.com:4318', serviceName: 'jobs', headers: { 'x-api-key': 's3cret=', other: '1' } });
  assert.ok(!JSON.stringify(describeConfig(c)).includes('s3cret'));
  assert.equal(loadConfig({ ...base, CONVEYOR_OTEL: '1' }).tracing?.endpoint, 'http://localhost:4318');
  assert.equal(loadConfig({ ...base, CONVEYOR_OTEL: '0', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }).tracing, undefined, 'CONVEYOR_OTEL=0 turns it off');
  assert.throws(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://x:4317' }), (e) => isConveyorError(e, 'CONFIG_INVALID'));
  assert.throws(() => loadConfig({ ...base, CONVEYOR_OTEL: 'yes' }), (e) => isConveyorError(e, 'CONFIG_INVALID'));
});

test('API_TOKENS: scope@queue-pattern grants; the existing forms keep their meaning', () => {
  const [t] = parseApiTokens('mailer:mailer-token-123:enqueue@emails.*+read@emails.*+read@reports');
  assert.deepEqual(t!.scopes, ['enqueue', 'read']);
  assert.deepEqual(t!.grants, [
    { scope: 'enqueue', queues: 'emails.*' },
    { scope: 'read', queues: 'emails.*' },
    { scope: 'read', queues: 'reports' },
  ]);
  const [bare] = parseApiTokens('bare-token-123456');
  assert.deepEqual(bare!.grants.map((g) => [g.scope, g.queues]), [['enqueue', undefined], ['read', undefined], ['admin', undefined]]);
  const [star] = parseApiTokens('s:star-token-123:admin@*');
  assert.deepEqual(star!.grants, [{ scope: 'admin', queues: undefined }], '@* is every queue');
  for (const bad of ['x:token-12345678:enqueue@', 'x:token-12345678:enqueue@a b', 'x:token-12345678:enqueue@a/b', 'x:token-12345678:write@emails.*', `x:token-12345678:read@${'a'.repeat(65)}`]) {
    assert.throws(() => parseApiTokens(bad), (e) => isConveyorError(e, 'CONFIG_INVALID') && !e.message.includes('token-12345678'), bad);
  }
  const c = loadConfig({ ...base, API_TOKENS: 'mailer:mailer-token-123:enqueue@emails.*+read' });
  assert.deepEqual(describeConfig(c).apiTokens, ['mailer:***:enqueue@emails.*+read']);
});
