/**
 * The worker's probes on METRICS_PORT (what the Kubernetes worker Deployment's
 * liveness and readiness probes call): /healthz 200 while the worker runs and
 * beats, /readyz 200 only while it is also connected to Redis and neither
 * quiet nor stopping. A real `conveyor worker` process is quieted with the
 * fleet command the board and `conveyor workers quiet` send; an in-process
 * worker loses its Redis and gets it back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, redisAndCore, closeRedisAndCore, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { Fleet } from '../shared/queue/fleet.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { attachHeartbeat, heartbeatOf } from '../shared/runtime/heartbeat.ts';
import { MetricsEndpoint } from '../shared/runtime/metrics-endpoint.ts';

let redis: RedisProcess;
let core: Core;
let fleet: Fleet;
const children: ConveyorProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  fleet = new Fleet(core.conn);
});
after(async () => {
  await Promise.allSettled(children.map((c) => c.stop('SIGKILL')));
  await closeRedisAndCore(redis, core);
});

async function probe(base: string, path: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.json() };
}

test('a worker process: /readyz 200 while running, 503 once quieted by the fleet command; /healthz 200 throughout', async () => {
  const q = uniqueQueue('health');
  const worker = spawnConveyor('worker', {
    REDIS_URL: redis.url,
    QUEUES: q,
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    HEARTBEAT_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '1000',
  });
  children.push(worker);
  const line = await worker.waitForLine('metrics listening', (j) => j.msg === 'metrics listening');
  const base = `http://127.0.0.1:${line.port}`;

  const ready = await waitFor('/readyz 200', async () => {
    const r = await probe(base, '/readyz');
    return r.status === 200 ? r : undefined;
  });
  assert.equal(ready.body.status, 'ready');
  assert.equal(ready.body.detail.state, 'running');
  assert.equal(ready.body.detail.redis, 'ready');
  const live = await probe(base, '/healthz');
  assert.equal(live.status, 200);
  assert.equal(live.body.status, 'ok');
  const id = ready.body.detail.worker as string;
  assert.ok((await fleet.list()).some((w) => w.id === id && w.pid === worker.proc.pid), 'the probe speaks of this process');

  const addressed = await fleet.command('quiet', id, 'tester');
  assert.deepEqual(addressed, [id]);
  const quiet = await waitFor('/readyz 503 after quiet', async () => {
    const r = await probe(base, '/readyz');
    return r.status === 503 ? r : undefined;
  });
  assert.equal(quiet.body.status, 'not ready');
  assert.equal(quiet.body.detail.state, 'quiet');
  const stillLive = await probe(base, '/healthz');
  assert.equal(stillLive.status, 200, 'a quiet worker is alive: not restarted, only out of rotation');

  assert.equal(await worker.stop('SIGTERM'), 0);
});

test('in process: /readyz 503 while Redis is gone and 200 once it is back; /healthz stays 200; a stalled beat loop is not live', async () => {
  const own = await startRedis();
  const config = testConfig(own.url, { HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TTL_MS: '600', SHUTDOWN_GRACE_MS: '200' });
  const host = new WorkerHost({ config, handlers: {}, logger: silentLogger, queues: [uniqueQueue('health')] });
  const beat = attachHeartbeat(host, { logger: silentLogger });
  assert.equal(heartbeatOf(host.id), beat);
  let now: number | undefined;
  const endpoint = new MetricsEndpoint({
    metrics: { render: async () => '', contentType: 'text/plain' },
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger,
    health: () => beat.health(now),
  });
  let restarted: RedisProcess | undefined;
  try {
    assert.equal(beat.health().live, false, 'not live before the host started');
    await host.start();
    await endpoint.start();
    const base = `http://127.0.0.1:${endpoint.port}`;
    await waitFor('/readyz 200', async () => (await probe(base, '/readyz')).status === 200);

    own.kill('SIGKILL');
    const down = await waitFor('/readyz 503 with Redis gone', async () => {
      const r = await probe(base, '/readyz');
      return r.status === 503 ? r : undefined;
    });
    assert.notEqual(down.body.detail.redis === 'ready' && down.body.detail.heartbeatRedis === 'ready', true);
    assert.equal((await probe(base, '/healthz')).status, 200, 'a Redis outage does not make the worker restart');

    restarted = await startRedis({ port: own.port });
    await waitFor('/readyz 200 with Redis back', async () => (await probe(base, '/readyz')).status === 200, { timeoutMs: 20_000 });

    // A beat loop that has not begun a beat within the TTL (a blocked event loop, a dead timer): not live.
    now = Date.now() + config.heartbeatTtlMs + 1000;
    const stalled = await probe(base, '/healthz');
    assert.equal(stalled.status, 503);
    assert.equal(stalled.body.status, 'not live');
    assert.equal((await probe(base, '/readyz')).status, 503);
    now = undefined;
    assert.equal((await probe(base, '/healthz')).status, 200);
  } finally {
    await endpoint.stop();
    await host.stop();
    await beat.done();
    await restarted?.stop();
    await own.stop();
  }
  assert.equal(heartbeatOf(host.id), undefined, 'forgotten once it left the fleet');
  assert.equal(beat.health().live, false, 'a stopped worker is not live');
});
