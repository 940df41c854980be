/**
 * The client's own behaviour, without a Conveyor server: the requests it
 * builds (URL with prefix, encoding, query, headers, body), how it reads
 * answers (JSON, text, error bodies, Retry-After), the failures that are its
 * own (no answer, timeout, not the API's answer, the caller's abort), and
 * that loading it loads nothing but its own files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../shared/testing/free-port.ts';
import { defineJob } from '../shared/jobs/define-job.ts';
import { CLIENT_CODES, ConveyorHttpError, createHttpClient, isConveyorHttpError } from './index.ts';
import { parseRetryAfter } from './http-error.ts';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that answers from a function and records what was sent. */
function fakeFetch(answer: (sent: Sent) => Response = () => Response.json({ ok: true })) {
  const sent: Sent[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const s: Sent = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v])),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    sent.push(s);
    return answer(s);
  };
  return { fetch, sent };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

test('requests: base URL with its prefix (trailing slash or not), encoded path segments, query, token and headers, JSON body', async () => {
  const f = fakeFetch();
  const client = createHttpClient({ baseUrl: 'https://jobs.example.com/api/', token: 't0k', headers: { 'x-app': 'a' }, fetch: f.fetch });
  await client.getJob('a.b', 'id/with ?#', { headers: { 'x-call': 'c' } });
  await client.listJobs('q', { state: 'failed', limit: 10 });
  await client.listDeadLetters('q');
  await client.listSchedules({ queue: 'emails' });
  await client.enqueueJob('q', { name: 'noop', data: { a: 1 } });
  assert.deepEqual(
    f.sent.map((s) => `${s.method} ${s.url}`),
    [
      'GET https://jobs.example.com/api/v1/queues/a.b/jobs/id%2Fwith%20%3F%23',
      'GET https://jobs.example.com/api/v1/queues/q/jobs?state=failed&limit=10',
      'GET https://jobs.example.com/api/v1/queues/q/dead',
      'GET https://jobs.example.com/api/v1/schedules?queue=emails',
      'POST https://jobs.example.com/api/v1/queues/q/jobs',
    ],
  );
  assert.equal(f.sent[0]?.headers.authorization, 'Bearer t0k');
  assert.equal(f.sent[0]?.headers['x-app'], 'a');
  assert.equal(f.sent[0]?.headers['x-call'], 'c');
  assert.equal(f.sent[0]?.headers['content-type'], undefined, 'no body, no content type');
  assert.equal(f.sent[4]?.headers['content-type'], 'application/json');
  assert.deepEqual(f.sent[4]?.body, { name: 'noop', data: { a: 1 } });
});

test('enqueue(definition): its queue and name, its defaults under the given options; enqueueBulk one job per item', async () => {
  const f = fakeFetch(() => Response.json({ id: '1', queue: 'emails', name: 'send-welcome' }, { status: 201 }));
  const client = createHttpClient({ baseUrl: 'http://api', fetch: f.fetch });
  const sendWelcome = defineJob<{ userId: number }>({ name: 'send-welcome', queue: 'emails', defaults: { attempts: 5, priority: 3 } });
  const plain = defineJob<{ n: number }>({ name: 'plain' });
  await client.enqueue(sendWelcome, { userId: 1 }, { priority: 1 });
  await client.enqueue(plain, { n: 1 });
  await client.enqueueBulk(sendWelcome, [{ userId: 1 }, { userId: 2 }]);
  assert.deepEqual(
    f.sent.map((s) => [s.url, s.body]),
    [
      ['http://api/v1/queues/emails/jobs', { name: 'send-welcome', data: { userId: 1 }, opts: { attempts: 5, priority: 1 } }],
      ['http://api/v1/queues/default/jobs', { name: 'plain', data: { n: 1 } }],
      ['http://api/v1/queues/emails/jobs/bulk', { jobs: [1, 2].map((userId) => ({ name: 'send-welcome', data: { userId }, opts: { attempts: 5, priority: 3 } })) }],
    ],
  );
  assert.throws(() => client.enqueue({} as never, {} as never), TypeError);
});

test('answers: the JSON body as is, metrics as text; an error body becomes a ConveyorHttpError with code, status, message, Retry-After and extra fields', async () => {
  const f = fakeFetch((s) => {
    if (s.url.endsWith('/metrics')) return new Response('# HELP x\n', { headers: { 'content-type': 'text/plain; version=0.0.4' } });
    if (s.url.endsWith('/v1/queues')) return Response.json({ queues: [] });
    return Response.json(
      { error: { code: 'DURABILITY_NOT_CONFIRMED', message: 'only 0 of 2 replicas', ids: ['a'], replicas: 0, required: 2 } },
      { status: 503, headers: { 'retry-after': '1' } },
    );
  });
  const client = createHttpClient({ baseUrl: 'http://api', fetch: f.fetch });
  assert.deepEqual(await client.listQueues(), { queues: [] });
  assert.equal(await client.metrics(), '# HELP x\n');
  const err = await rejection(client.enqueueJob('q', { name: 'x', opts: { minReplicas: 2 } }));
  assert.ok(err instanceof ConveyorHttpError);
  assert.ok(isConveyorHttpError(err, 'DURABILITY_NOT_CONFIRMED'));
  assert.equal(isConveyorHttpError(err, 'NOT_FOUND'), false);
  assert.deepEqual(
    { code: err.code, status: err.status, message: err.message, retryAfter: err.retryAfter, details: err.details, method: err.method, url: err.url },
    { code: 'DURABILITY_NOT_CONFIRMED', status: 503, message: 'only 0 of 2 replicas', retryAfter: 1, details: { ids: ['a'], replicas: 0, required: 2 }, method: 'POST', url: 'http://api/v1/queues/q/jobs' },
  );
  assert.equal(err.name, 'ConveyorHttpError');
});

test('an answer that is not the API\'s (a proxy\'s HTML 502, a 200 that is not JSON) is UNEXPECTED_RESPONSE with its status', async () => {
  const { url, server } = await listen((req, res) => {
    if (req.url === '/v1/queues') res.writeHead(502, { 'content-type': 'text/html', 'retry-after': '7' }).end('<html>Bad Gateway</html>');
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
  });
  try {
    const client = createHttpClient({ baseUrl: url });
    const bad = await rejection(client.listQueues());
    assert.ok(isConveyorHttpError(bad, CLIENT_CODES.UNEXPECTED_RESPONSE));
    assert.deepEqual([bad.status, bad.retryAfter], [502, 7]);
    assert.match(bad.message, /Bad Gateway/);
    const notJson = await rejection(client.getQueue('q'));
    assert.ok(isConveyorHttpError(notJson, 'UNEXPECTED_RESPONSE'));
    assert.equal(notJson.status, 200);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('no answer: a refused connection is NETWORK_ERROR, a server that never answers CLIENT_TIMEOUT (status 0, the cause kept)', async () => {
  const closed = createHttpClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
  const refused = await rejection(closed.healthz());
  assert.ok(isConveyorHttpError(refused, 'NETWORK_ERROR'), String(refused));
  assert.equal(refused.status, 0);
  assert.ok(refused.cause, 'the fetch error is the cause');

  const { url, server } = await listen(() => {
    // never answers
  });
  try {
    const silent = createHttpClient({ baseUrl: url, timeoutMs: 50 });
    const timedOut = await rejection(silent.healthz());
    assert.ok(isConveyorHttpError(timedOut, 'CLIENT_TIMEOUT'), String(timedOut));
    assert.match(timedOut.message, /no answer within 50 ms/);
    const perCall = createHttpClient({ baseUrl: url, timeoutMs: 0 });
    assert.ok(isConveyorHttpError(await rejection(perCall.healthz({ timeoutMs: 50 })), 'CLIENT_TIMEOUT'), 'a call may set its own timeout');

    // The caller's own abort is not a ConveyorHttpError: it rejects with the signal's reason.
    const ac = new AbortController();
    const pending = perCall.healthz({ signal: ac.signal });
    const reason = new Error('the caller gave up');
    ac.abort(reason);
    assert.equal(await rejection(pending), reason);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('bad options are a TypeError at creation', () => {
  assert.throws(() => createHttpClient({ baseUrl: 'localhost:3000' }), /baseUrl "localhost:3000" is not http: or https:/);
  assert.throws(() => createHttpClient({ baseUrl: 'not a url' }), /is not a URL/);
  assert.throws(() => createHttpClient({ baseUrl: 'http://h/?x=1' }), /query or a fragment/);
  assert.throws(() => createHttpClient({ baseUrl: 'http://h', timeoutMs: -1 }), /timeoutMs/);
  assert.doesNotThrow(() => createHttpClient({ baseUrl: '/jobs-api' }), 'a path, for fetch in a page');
  assert.doesNotThrow(() => createHttpClient({ baseUrl: new URL('http://h:3000') }));
});

test('Retry-After: seconds, or an HTTP date as seconds from now', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
});

test('loading the client loads only its own files: no package (no Redis client, BullMQ, express, zod), nothing else of the project', () => {
  const root = join(import.meta.dirname, '..');
  // Every module the loader resolves after tsx itself is reported; type-only imports must not show.
  const probe = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
    const m = await import(${JSON.stringify(join(root, 'http-client', 'index.ts'))});
    if (typeof m.createHttpClient !== 'function') throw new Error('no createHttpClient');
    console.log(JSON.stringify(seen));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const urls = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[]).filter((u) => !u.startsWith('node:'));
  const relative = [...new Set(urls.map((u) => decodeURIComponent(new URL(u).pathname).slice(root.length + 1)))].sort();
  assert.deepEqual(relative, ['http-client/client.ts', 'http-client/http-error.ts', 'http-client/index.ts']);
});
