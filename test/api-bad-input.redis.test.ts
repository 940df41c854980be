import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { MAX_PRIORITY } from '../shared/queue/job-input.ts';
import { startApi, type Api, type CallOptions } from './api-app.ts';

let redis: RedisProcess;
let client: Redis;
let api: Api;
const q = uniqueQueue();

before(async () => {
  redis = await startRedis();
  client = redis.client();
  // MAX_PAYLOAD_BYTES small, so "too large" costs little.
  api = await startApi(redis.url, { MAX_PAYLOAD_BYTES: '1024' });
  assert.equal((await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'seed' } })).status, 201);
});
after(async () => {
  await api.close();
  await redis.stop();
});

interface Case {
  what: string;
  method?: string;
  path?: string;
  opts: CallOptions;
  status: number;
  code: string;
}

const jobs = `/v1/queues/${q}/jobs`;
const bulk = `/v1/queues/${q}/jobs/bulk`;
const json = { 'content-type': 'application/json' };
const job = (extra: Record<string, unknown>) => ({ body: { name: 'x', ...extra } });
const opts = (o: Record<string, unknown>) => job({ opts: o });

const cases: Case[] = [
  // the body itself
  { what: 'bad JSON', opts: { raw: '{"name": "x",', headers: json }, status: 400, code: 'INVALID_JSON' },
  { what: 'text/plain', opts: { raw: '{"name":"x"}', headers: { 'content-type': 'text/plain' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { what: 'form-encoded', opts: { raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { what: 'no Content-Type', opts: { raw: new TextEncoder().encode('{"name":"x"}') as Buffer }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { what: 'a non-UTF-8 charset', opts: { raw: '{"name":"x"}', headers: { 'content-type': 'application/json; charset=latin1' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { what: 'empty body', opts: { raw: '', headers: json }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'no body at all', opts: { headers: json }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'body is a number', opts: { raw: '42', headers: json }, status: 400, code: 'INVALID_JSON' },
  { what: 'body is a string', opts: { raw: '"name"', headers: json }, status: 400, code: 'INVALID_JSON' },
  { what: 'body is null', opts: { raw: 'null', headers: json }, status: 400, code: 'INVALID_JSON' },
  { what: 'body is an array', opts: { body: [{ name: 'x' }] }, status: 400, code: 'INVALID_REQUEST' },
  // name
  { what: 'missing name', opts: { body: { data: 1 } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'empty name', opts: { body: { name: '' } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'blank name', opts: { body: { name: '   ' } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'name too long', opts: { body: { name: 'n'.repeat(129) } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'name with a control character', opts: { body: { name: 'a\u0001b' } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'name with a newline', opts: { body: { name: 'a\nb' } }, status: 400, code: 'INVALID_JOB_NAME' },
  { what: 'name not a string', opts: { body: { name: 42 } }, status: 400, code: 'INVALID_JOB_NAME' },
  // unknown fields, prototype pollution
  { what: 'unknown top-level field', opts: job({ delay: 5 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'unknown opts field', opts: opts({ removeOnComplete: true }), status: 400, code: 'INVALID_REQUEST' },
  { what: '__proto__ at the top', opts: { raw: '{"name":"x","__proto__":{"polluted":true}}', headers: json }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'constructor.prototype at the top', opts: { raw: '{"name":"x","constructor":{"prototype":{"polluted":true}}}', headers: json }, status: 400, code: 'INVALID_REQUEST' },
  { what: '__proto__ in opts', opts: { raw: '{"name":"x","opts":{"__proto__":{"attempts":0,"polluted":true}}}', headers: json }, status: 400, code: 'INVALID_REQUEST' },
  { what: '__proto__ in a bulk body', method: 'POST', path: bulk, opts: { raw: '{"jobs":[{"name":"x"}],"__proto__":{"polluted":true}}', headers: json }, status: 400, code: 'INVALID_REQUEST' },
  // options
  { what: 'opts not an object', opts: job({ opts: 'fast' }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'negative delay', opts: opts({ delay: -1 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'delay as a string', opts: opts({ delay: '100' }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'attempts 0', opts: opts({ attempts: 0 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'attempts too many', opts: opts({ attempts: 1001 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'priority a float', opts: opts({ priority: 1.5 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'priority too large', opts: opts({ priority: MAX_PRIORITY + 1 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'backoff a string', opts: opts({ backoff: 'exponential' }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'backoff of an unknown type', opts: opts({ backoff: { type: 'linear', delay: 10 } }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'backoff without delay', opts: opts({ backoff: { type: 'fixed' } }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'jobId integer-looking', opts: opts({ jobId: '123' }), status: 400, code: 'INVALID_JOB_ID' },
  { what: 'jobId with ":"', opts: opts({ jobId: 'a:b' }), status: 400, code: 'INVALID_JOB_ID' },
  { what: 'jobId a number', opts: opts({ jobId: 7 }), status: 400, code: 'INVALID_JOB_ID' },
  { what: 'jobId naming a BullMQ key ("meta")', opts: opts({ jobId: 'meta' }), status: 400, code: 'INVALID_JOB_ID' },
  { what: 'jobId naming a BullMQ key ("wait") in a bulk', method: 'POST', path: bulk, opts: { body: { jobs: [{ name: 'x', opts: { jobId: 'wait' } }] } }, status: 400, code: 'INVALID_JOB_ID' },
  { what: 'jobId empty', opts: opts({ jobId: '' }), status: 400, code: 'INVALID_JOB_ID' },
  { what: 'negative timeout', opts: opts({ timeout: -5 }), status: 400, code: 'INVALID_REQUEST' },
  { what: 'timeout 0', opts: opts({ timeout: 0 }), status: 400, code: 'INVALID_REQUEST' },
  // size
  { what: 'data over MAX_PAYLOAD_BYTES', opts: job({ data: 'x'.repeat(1100) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { what: 'a body over the request limit', opts: { raw: JSON.stringify({ name: 'x', data: 'x'.repeat(1_200_000) }), headers: json }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  // bulk
  { what: 'bulk jobs not an array', method: 'POST', path: bulk, opts: { body: { jobs: { name: 'x' } } }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk without jobs', method: 'POST', path: bulk, opts: { body: {} }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk body an array', method: 'POST', path: bulk, opts: { body: [{ name: 'x' }] }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'empty bulk', method: 'POST', path: bulk, opts: { body: { jobs: [] } }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk over 1000 jobs', method: 'POST', path: bulk, opts: { body: { jobs: Array.from({ length: 1001 }, () => ({ name: 'x' })) } }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk with one bad job', method: 'POST', path: bulk, opts: { body: { jobs: [{ name: 'ok' }, { name: 'ok' }, { name: 'bad', opts: { attempts: 0 } }] } }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk with one job too large', method: 'POST', path: bulk, opts: { body: { jobs: [{ name: 'ok' }, { name: 'big', data: 'x'.repeat(1100) }] } }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { what: 'bulk with an unknown field', method: 'POST', path: bulk, opts: { body: { jobs: [{ name: 'ok' }], atomic: false } }, status: 400, code: 'INVALID_REQUEST' },
  { what: 'bulk with bad JSON', method: 'POST', path: bulk, opts: { raw: '{"jobs":[', headers: json }, status: 400, code: 'INVALID_JSON' },
  { what: 'bulk as text/plain', method: 'POST', path: bulk, opts: { raw: '{"jobs":[{"name":"x"}]}', headers: { 'content-type': 'text/plain' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  // queue names
  { what: 'queue name too long', path: `/v1/queues/${'q'.repeat(65)}/jobs`, opts: job({}), status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'queue name with a space', path: '/v1/queues/a%20b/jobs', opts: job({}), status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'queue name with ":"', path: '/v1/queues/a:b/jobs', opts: job({}), status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'queue name "../"', path: '/v1/queues/..%2F/jobs', opts: job({}), status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'queue name with a hash tag', path: '/v1/queues/%7Bx%7D/jobs', opts: job({}), status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'bulk to a bad queue name', path: '/v1/queues/a%20b/jobs/bulk', opts: { body: { jobs: [{ name: 'x' }] } }, status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'GET from a bad queue name', method: 'GET', path: '/v1/queues/a:b/jobs/x', opts: {}, status: 400, code: 'INVALID_QUEUE_NAME' },
  { what: 'pause a bad queue name', method: 'POST', path: '/v1/queues/a%20b/pause', opts: {}, status: 400, code: 'INVALID_QUEUE_NAME' },
  // lists
  { what: 'unknown state filter', method: 'GET', path: `${jobs}?state=zombie`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'missing state filter', method: 'GET', path: jobs, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'state given twice', method: 'GET', path: `${jobs}?state=waiting&state=active`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'limit 0', method: 'GET', path: `${jobs}?state=waiting&limit=0`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'limit over 500', method: 'GET', path: `${jobs}?state=waiting&limit=501`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'negative offset', method: 'GET', path: `${jobs}?state=waiting&offset=-1`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  { what: 'limit not a number', method: 'GET', path: `/v1/queues/${q}/dead?limit=ten`, opts: {}, status: 400, code: 'INVALID_REQUEST' },
  // lookups that must not create anything
  { what: 'unknown queue list', method: 'GET', path: `/v1/queues/${uniqueQueue('nope')}/jobs?state=waiting`, opts: {}, status: 404, code: 'QUEUE_NOT_FOUND' },
  { what: 'pause an unknown queue', method: 'POST', path: `/v1/queues/${uniqueQueue('nope')}/pause`, opts: {}, status: 404, code: 'QUEUE_NOT_FOUND' },
  { what: 'replay a reserved id', method: 'POST', path: `/v1/queues/${q}/dead/meta/retry`, opts: {}, status: 404, code: 'DEAD_LETTER_NOT_FOUND' },
  { what: 'drop a reserved id', method: 'DELETE', path: `/v1/queues/${q}/dead/wait`, opts: {}, status: 404, code: 'DEAD_LETTER_NOT_FOUND' },
  // routes
  { what: 'unknown route', method: 'GET', path: '/v1/nothing-here', opts: {}, status: 404, code: 'NOT_FOUND' },
  { what: 'unknown route outside /v1', method: 'GET', path: '/admin', opts: {}, status: 404, code: 'NOT_FOUND' },
  { what: 'a near-miss route', path: `/v1/queues/${q}/jobz`, opts: job({}), status: 404, code: 'NOT_FOUND' },
  { what: 'wrong method on a known path', method: 'PUT', path: jobs, opts: job({}), status: 405, code: 'METHOD_NOT_ALLOWED' },
];

async function snapshot(): Promise<{ size: number; keys: string[] }> {
  const [size, keys] = await Promise.all([client.dbsize(), client.keys('*')]);
  return { size, keys: keys.sort() };
}

test('every bad input answers the right 4xx with {error: {code, message}} and changes nothing in Redis', async () => {
  const before = await snapshot();
  const failures: string[] = [];
  for (const c of cases) {
    const r = await api.call(c.method ?? 'POST', c.path ?? jobs, c.opts);
    const shapeOk =
      r.json && typeof r.json.error === 'object' && Object.keys(r.json).length === 1 && typeof r.json.error.code === 'string' && typeof r.json.error.message === 'string' && r.json.error.message.length > 0;
    if (r.status !== c.status || !shapeOk || r.json.error.code !== c.code) {
      failures.push(`${c.what}: expected ${c.status} ${c.code}, got ${r.status} ${r.text.slice(0, 200)}`);
    }
    if (!/^application\/json/.test(r.headers.get('content-type') ?? '')) failures.push(`${c.what}: content-type ${r.headers.get('content-type')}`);
    if (r.status === 405 && !r.headers.get('allow')) failures.push(`${c.what}: 405 without Allow`);
  }
  assert.deepEqual(failures, []);
  const after = await snapshot();
  assert.deepEqual(after, before, 'Redis is unchanged');
  assert.equal((await api.inspector.summary(q)).counts.waiting, 1, 'only the seed job is queued');
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted');
  assert.deepEqual(api.problems.filter((p) => p.level >= 50), [], 'no bad input reached a bug (500)');
});

test('error messages name the offending field', async () => {
  const r1 = await api.call('POST', jobs, opts({ attempts: 0 }));
  assert.match(r1.json.error.message, /opts\.attempts/);
  const r2 = await api.call('POST', jobs, job({ extra: 1 }));
  assert.match(r2.json.error.message, /"extra"/);
  const r3 = await api.call('POST', bulk, { body: { jobs: [{ name: 'ok' }, { name: 'x', opts: { delay: -1 } }] } });
  assert.match(r3.json.error.message, /jobs\.1\.opts\.delay/);
  const r4 = await api.call('POST', '/v1/queues/a%20b/jobs', job({}));
  assert.match(r4.json.error.message, /"a b"/);
});

test('a "__proto__" key inside data is stored as plain data and pollutes nothing', async () => {
  const queue = uniqueQueue();
  const r = await api.call('POST', `/v1/queues/${queue}/jobs`, { raw: '{"name":"x","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}', headers: json });
  assert.equal(r.status, 201);
  const got = await api.call('GET', `/v1/queues/${queue}/jobs/${r.json.id}`);
  assert.match(got.text, /"data":\{"__proto__":\{"polluted":true\}/, 'the key round-trips as data');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(got.json.data), Object.prototype);
});

test('the body limit is a bulk of 4 x MAX_PAYLOAD_BYTES of data, and the bulk total is enforced', async () => {
  const queue = uniqueQueue();
  // four jobs at just under the per-job limit pass; five add up to more than 4 x the limit
  const four = Array.from({ length: 4 }, () => ({ name: 'x', data: 'x'.repeat(1000) }));
  assert.equal((await api.call('POST', `/v1/queues/${queue}/jobs/bulk`, { body: { jobs: four } })).status, 201);
  const five = [...four, { name: 'x', data: 'x'.repeat(1000) }];
  const r = await api.call('POST', `/v1/queues/${queue}/jobs/bulk`, { body: { jobs: five } });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal((await api.inspector.summary(queue)).counts.waiting, 4);
});
