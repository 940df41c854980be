/**
 * OpenTelemetry tracing through bullmq-otel, across processes: with
 * OTEL_EXPORTER_OTLP_ENDPOINT set, the server's enqueue and the worker's
 * processing of that job are spans of one trace, exported over OTLP/HTTP to
 * a collector (here a loopback stand-in that records what it receives).
 * Without the variable, nothing is exported.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { listeningUrl, spawnConveyor } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

let redis: RedisProcess;
let collector: Server;
let endpoint: string;
const received: { service: string; spans: Span[] }[] = [];

before(async () => {
  redis = await startRedis();
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces' && /json/.test(req.headers['content-type'] ?? '')) {
        const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: Span['attributes'] }; scopeSpans: { spans: Span[] }[] }[] };
        for (const rs of doc.resourceSpans) {
          const service = String(rs.resource.attributes.find((a) => a.key === 'conveyor.process')?.value.stringValue);
          received.push({ service, spans: rs.scopeSpans.flatMap((s) => s.spans) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});
after(async () => {
  collector?.close();
  await redis?.stop();
});

test('an enqueue on the server and the job\'s processing in a worker are one trace, exported over OTLP/HTTP', async () => {
  const q = uniqueQueue('traced');
  const env = { REDIS_URL: redis.url, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'conveyor-test' };
  const server = spawnConveyor('server', { ...env, API_PORT: '0' });
  const worker = spawnConveyor('worker', { ...env, QUEUES: q });
  try {
    const url = await listeningUrl(server);
    await worker.waitForLine('worker started', (j) => j.msg === 'worker started');
    assert.ok(server.lines.some((l) => l.json?.msg === 'tracing on (OTLP/HTTP)'));
    const res = await fetch(`${url}/v1/queues/${q}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'noop', data: { n: 1 } }) });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as { id: string };
    await waitFor('the job to complete', async () => {
      const r = await fetch(`${url}/v1/queues/${q}/jobs/${id}`);
      return ((await r.json()) as { state: string }).state === 'completed';
    });
  } finally {
    // Stopping flushes the spans still buffered.
    await server.stop();
    await worker.stop();
  }
  await waitFor('spans from both processes', () => received.some((r) => r.service === 'server') && received.some((r) => r.service === 'worker'), { timeoutMs: 10_000 });
  const serverSpans = received.filter((r) => r.service === 'server').flatMap((r) => r.spans);
  const workerSpans = received.filter((r) => r.service === 'worker').flatMap((r) => r.spans);
  const hasQueue = (s: Span) => JSON.stringify(s.attributes).includes(q);
  const produced = serverSpans.find((s) => s.kind === 4 && hasQueue(s)); // SPAN_KIND_PRODUCER
  const consumed = workerSpans.find((s) => s.kind === 5 && hasQueue(s)); // SPAN_KIND_CONSUMER
  assert.ok(produced, `a producer span for the queue: ${serverSpans.map((s) => `${s.name}/${s.kind}`).join(', ')}`);
  assert.ok(consumed, `a consumer span for the queue: ${workerSpans.map((s) => `${s.name}/${s.kind}`).join(', ')}`);
  assert.equal(consumed.traceId, produced.traceId, 'the worker\'s span joins the enqueue\'s trace');
  assert.ok(!JSON.stringify(received).includes('"n":1'), 'no payload in spans');
});

test('without OTEL_EXPORTER_OTLP_ENDPOINT (or CONVEYOR_OTEL) nothing is traced', async () => {
  const before = received.length;
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: uniqueQueue() });
  try {
    await worker.waitForLine('worker started', (j) => j.msg === 'worker started');
    assert.ok(!worker.lines.some((l) => /tracing/.test(String(l.json?.msg))));
  } finally {
    await worker.stop();
  }
  assert.equal(received.length, before);
});
