/**
 * The built-in http handler against a node:http server on 127.0.0.1 (the only
 * place these tests send traffic), alone and inside a worker with Redis.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { silentLogger } from '../shared/log.ts';
import { isConveyorError } from '../shared/errors.ts';
import type { HandlerContext } from '../shared/runtime/handler.ts';
import { createHttpHandler, KEPT_BODY_CHARS } from '../worker/handlers/http.ts';
import { resolveHandlers } from '../worker/handlers/index.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
let port: number;
const seen: Seen[] = [];
let bigClosedEarly = false;
let redis: RedisProcess;
let core: Core;
const hosts: WorkerHost[] = [];

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/ok') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received: true }));
      } else if (path === '/created') {
        res.writeHead(201).end('made');
      } else if (path === '/fail') {
        res.writeHead(503).end('try later');
      } else if (path === '/redirect') {
        res.writeHead(302, { location: `${base}/ok` }).end();
      } else if (path === '/hang') {
        // never answers
      } else if (path === '/big') {
        // 8 MB, written as fast as the client takes it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const pump = () => {
          while (sent < 128) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (bigClosedEarly = sent < 128 || !res.writableFinished));
        pump();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  ({ redis, core } = await redisAndCore());
});

after(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  await closeRedisAndCore(redis, core);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function ctx(id = 'job-7', attempt = 1): HandlerContext {
  return { id, queue: 'q', name: 'http', attempt, maxAttempts: 3, signal: new AbortController().signal, log: silentLogger, job: {} as never };
}

const local = createHttpHandler(['127.0.0.1']);

test('a 2xx answer succeeds; method, headers, JSON body and x-conveyor-job-id reach the server', async () => {
  const before = seen.length;
  const result = await local({ url: `${base}/ok?x=1`, method: 'put', headers: { 'x-signature': 'abc' }, body: { order: 17 } }, ctx('job-7', 2));
  assert.deepEqual(result, { status: 200, body: '{"received":true}' });
  const req = seen[before]!;
  assert.equal(req.method, 'PUT');
  assert.equal(req.url, '/ok?x=1');
  assert.equal(req.headers['x-signature'], 'abc');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers['x-conveyor-job-id'], 'job-7');
  assert.equal(req.headers['x-conveyor-attempt'], '2');
  assert.deepEqual(JSON.parse(req.body), { order: 17 });
  // A string body goes as it is; any 2xx counts.
  assert.deepEqual(await local({ url: `${base}/created`, body: 'plain', headers: { 'content-type': 'text/plain' } }, ctx()), { status: 201, body: 'made' });
  assert.equal(seen.at(-1)!.method, 'POST');
  assert.equal(seen.at(-1)!.body, 'plain');
});

test('a non-2xx answer fails the attempt with HTTP_STATUS', async () => {
  await assert.rejects(Promise.resolve(local({ url: `${base}/fail` }, ctx())), (err: unknown) => isConveyorError(err, 'HTTP_STATUS') && /answered 503/.test(err.message) && err.details?.status === 503);
});

test('a 3xx redirect is not followed: it fails', async () => {
  const before = seen.length;
  await assert.rejects(Promise.resolve(local({ url: `${base}/redirect` }, ctx())), (err: unknown) => isConveyorError(err, 'HTTP_STATUS') && /answered 302/.test(err.message));
  assert.deepEqual(seen.slice(before).map((s) => s.url), ['/redirect']);
});

test('a server that never answers fails at timeoutMs', async () => {
  const started = Date.now();
  await assert.rejects(Promise.resolve(local({ url: `${base}/hang`, timeoutMs: 200 }, ctx())), /timed out after 200 ms/);
  const took = Date.now() - started;
  // Not before the timeout (so the timeout ended it: the message says which), and a liveness bound only
  // (the server never answers: without the timeout it would hang).
  assert.ok(took >= 190 && took < 10_000, `took ${took} ms`);
});

test('the response body read is capped: an 8 MB answer is cut short and the result keeps 2 KB', async () => {
  const result = (await local({ url: `${base}/big` }, ctx())) as { status: number; body: string };
  assert.equal(result.status, 200);
  assert.equal(result.body.length, KEPT_BODY_CHARS);
  await waitFor('the server to see the client hang up', () => bigClosedEarly);
});

test('a host not in HTTP_ALLOWED_HOSTS is refused (HTTP_HOST_REFUSED) and the server sees nothing', async () => {
  const before = seen.length;
  const strict = createHttpHandler(['hooks.example.com']);
  await assert.rejects(Promise.resolve(strict({ url: `${base}/ok` }, ctx())), (err: unknown) => isConveyorError(err, 'HTTP_HOST_REFUSED'));
  assert.equal(seen.length, before);
});

test('a name resolved through the guarded lookup connects to the address it resolved to', async () => {
  const viaName = createHttpHandler(['hooks.test'], { resolve: (_h, _o, cb) => queueMicrotask(() => cb(null, [{ address: '127.0.0.1', family: 4 }])) });
  const result = await viaName({ url: `http://hooks.test:${port}/ok` }, ctx());
  assert.deepEqual(result, { status: 200, body: '{"received":true}' });
  assert.equal(seen.at(-1)!.headers.host, `hooks.test:${port}`);
});

async function startWorker(queue: string, allowed: string): Promise<void> {
  const config = testConfig(redis.url, { HTTP_ALLOWED_HOSTS: allowed });
  const host = new WorkerHost({ config, handlers: await resolveHandlers(config.httpAllowedHosts, undefined), logger: silentLogger, queues: [queue] });
  hosts.push(host);
  await host.start();
}

test('in a worker: a 2xx job completes with the status; a failing one is retried, then dead-lettered with HTTP_STATUS', async () => {
  const q = uniqueQueue('http');
  await startWorker(q, '127.0.0.1');
  const ok = await core.producer.enqueue(q, { name: 'http', data: { url: `${base}/ok`, body: { a: 1 } } });
  const done = await waitFor('http job completed', async () => {
    const j = await core.inspector.getJob(q, ok.id);
    return j?.state === 'completed' ? j : undefined;
  });
  assert.equal((done.returnValue as { status: number }).status, 200);
  assert.equal(seen.find((s) => s.headers['x-conveyor-job-id'] === ok.id)?.body, '{"a":1}');

  const bad = await core.producer.enqueue(q, { name: 'http', data: { url: `${base}/fail` }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 50 } } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, bad.id));
  assert.match(dead.failedReason, /^HTTP_STATUS: http: GET http:\/\/127\.0\.0\.1:\d+\/fail answered 503/);
  assert.equal(dead.attemptsMade, 2);
  assert.deepEqual(seen.filter((s) => s.headers['x-conveyor-job-id'] === bad.id).map((s) => s.headers['x-conveyor-attempt']), ['1', '2']);
});

test('in a worker: a refused host is dead-lettered after one attempt (no retry can fix a policy)', async () => {
  const q = uniqueQueue('http');
  await startWorker(q, 'hooks.example.com');
  const { id } = await core.producer.enqueue(q, { name: 'http', data: { url: 'http://169.254.169.254/latest/meta-data/' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 50 } } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, id));
  assert.match(dead.failedReason, /^HTTP_HOST_REFUSED: /);
  assert.equal(dead.attemptsMade, 1);
});
