/**
 * Payload schemas declared beside the handlers (export const schemas): the
 * API answers 422 PAYLOAD_INVALID naming the path of the first error and
 * writes nothing; bulk enqueues name the job; the library refuses the same
 * data; a bad schema stops the start with INVALID_HANDLER; the real server
 * process loads them from HANDLERS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { openCore, testConfig, uniqueQueue } from '../shared/testing/fixtures.ts';
import { isConveyorError } from '../shared/errors.ts';
import { listeningUrl } from '../shared/testing/processes.ts';
import { loadPayloadSchemas } from '../shared/queue/payload-schemas.ts';
import { JobCatalog } from '../shared/jobs/job-catalog.ts';
import { startApi, type Api } from './api-app.ts';

// Inside the repository, so the modules resolve its packages (zod); test-artifacts/ is ignored by git.
const artifacts = join(import.meta.dirname, '..', 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(artifacts, 'schemas-'));
const good = join(dir, 'good');
mkdirSync(good);
writeFileSync(
  join(good, 'email.mjs'),
  `export const handlers = { 'send-email': async () => 'sent', 'report': async () => 1 };
export const schemas = {
  'send-email': {
    type: 'object',
    required: ['to', 'subject'],
    additionalProperties: false,
    properties: {
      to: { type: 'string', format: 'email' },
      subject: { type: 'string', maxLength: 200 },
      cc: { type: 'array', items: { type: 'string', format: 'email' } },
    },
  },
};
`,
);
writeFileSync(
  join(good, 'zod-schema.mjs'),
  `import { z } from 'zod';
export default { 'resize': async () => 1 };
export const schemas = { 'resize': z.object({ width: z.number().int().positive(), height: z.number().int().positive() }) };
`,
);
const badSchema = join(dir, 'bad.mjs');
writeFileSync(badSchema, `export const handlers = { x: async () => 1 }; export const schemas = { x: { type: 'object', properties: { a: { type: 'strin' } } } };`);
const typo = join(dir, 'typo.mjs');
writeFileSync(typo, `export const handlers = { x: async () => 1 }; export const schemas = { x: { type: 'object', requird: ['a'] } };`);

let redis: RedisProcess;
let api: Api;

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, { HANDLERS: good });
});
after(async () => {
  await api?.close();
  await redis?.stop();
});

test('a payload that breaks its JSON Schema is 422 PAYLOAD_INVALID naming the path of the first error, and writes nothing', async () => {
  const q = uniqueQueue();
  const cases: [unknown, RegExp][] = [
    [{ to: 'not-an-email', subject: 'hi' }, /^data\.to: must match format "email"/],
    [{ subject: 'hi' }, /^data\.to: is required/],
    [{ to: 'a@example.com', subject: 'hi', bcc: 'x' }, /^data\.bcc: is not allowed/],
    [{ to: 'a@example.com', subject: 'hi', cc: ['b@example.com', 'nope'] }, /^data\.cc\.1: must match format "email"/],
    [{ to: 'a@example.com', subject: 'x'.repeat(201) }, /^data\.subject: must NOT have more than 200 characters/],
    [undefined, /^data: must be object/],
    ['a@example.com', /^data: must be object/],
  ];
  for (const [data, message] of cases) {
    const r = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'send-email', data } });
    assert.equal(r.status, 422, `${JSON.stringify(data)}: ${r.text}`);
    assert.equal(r.json.error.code, 'PAYLOAD_INVALID');
    assert.match(r.json.error.message, message);
    assert.match(r.json.error.message, /schema of job "send-email"/);
  }
  assert.equal(await redis.client().exists(`conveyor:{${q}}:meta`), 0, 'the queue was never written to');
  const ok = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'send-email', data: { to: 'a@example.com', subject: 'hi' } } });
  assert.equal(ok.status, 201, ok.text);
  assert.equal((await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'no-schema', data: { anything: [1, 'x'] } } })).status, 201, 'a name without a schema takes any data');
});

test('a bulk names the job whose payload is invalid and enqueues none of them', async () => {
  const q = uniqueQueue();
  const r = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, {
    body: { jobs: [{ name: 'send-email', data: { to: 'a@example.com', subject: 'a' } }, { name: 'resize', data: { width: 10, height: -1 } }] },
  });
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error.message, /^jobs\.1\.data\.height: /, 'zod schemas work too, with the path');
  assert.equal((await api.inspector.summary(q)).counts.waiting, 0);
});

test('the library refuses the same data (a Conveyor connected with HANDLERS)', async () => {
  const schemas = await loadPayloadSchemas(good);
  assert.deepEqual(schemas.names, ['resize', 'send-email']);
  const core = await openCore(testConfig(redis.url, { HANDLERS: good }));
  try {
    await assert.rejects(core.conveyor.enqueue(uniqueQueue(), { name: 'resize', data: { width: 'wide', height: 1 } }), (err) => isConveyorError(err, 'PAYLOAD_INVALID') && /^data\.width: /.test(err.message));
    const ok = await core.conveyor.enqueue(uniqueQueue(), { name: 'resize', data: { width: 1, height: 1 } });
    assert.equal(ok.duplicate, false);
  } finally {
    await core.close();
  }
});

test('a schema that is not valid JSON Schema (or has a misspelt keyword) stops the start with INVALID_HANDLER naming the file', async () => {
  await assert.rejects(loadPayloadSchemas(badSchema), (err) => isConveyorError(err, 'INVALID_HANDLER') && err.message.includes('bad.mjs') && /schema for "x"/.test(err.message));
  await assert.rejects(loadPayloadSchemas(typo), (err) => isConveyorError(err, 'INVALID_HANDLER') && /requird/.test(err.message));
  await assert.rejects(JobCatalog.create([{ name: 'x', schema: 'string', from: 'HANDLERS: m.mjs', errorCode: 'INVALID_HANDLER' }]), (err) => isConveyorError(err, 'INVALID_HANDLER') && /m\.mjs/.test(err.message));
});

test('the server process loads the schemas from HANDLERS and answers 422', async () => {
  const server = spawnConveyor('server', { REDIS_URL: redis.url, API_PORT: '0', HANDLERS: good });
  try {
    const url = await listeningUrl(server);
    const r = await fetch(`${url}/v1/queues/${uniqueQueue()}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'send-email', data: { to: 'x' } }) });
    assert.equal(r.status, 422);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAYLOAD_INVALID');
    assert.ok(server.lines.some((l) => l.json?.msg === 'payload schemas loaded'));
  } finally {
    await server.stop();
  }
});
