/**
 * Dual drain: a worker also consumes its queues on an old deployment
 * (DRAIN_REDIS_URLS), stops once the old side has stayed empty, and starts
 * again if jobs turn up there later. In-process (DualDrain) and as a real
 * worker process started with DRAIN_REDIS_URLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { DualDrain } from '../shared/migrate/dual-drain.ts';

let oldRedis: RedisProcess;
let newRedis: RedisProcess;
let a: Core;
let b: Core;
before(async () => {
  [oldRedis, newRedis] = await Promise.all([startRedis(), startRedis()]);
  [a, b] = await Promise.all([openCore(testConfig(oldRedis.url)), openCore(testConfig(newRedis.url))]);
});
after(async () => {
  await Promise.all([a.close(), b.close()]);
  await Promise.all([oldRedis.stop(), newRedis.stop()]);
});

test('DualDrain runs the old side\'s jobs, stops once it stayed empty, and drains again when jobs reappear', async () => {
  const q = uniqueQueue('drain');
  const ran: string[] = [];
  const drain = new DualDrain({
    config: testConfig(newRedis.url, { DRAIN_REDIS_URLS: oldRedis.url }),
    handlers: { work: (_d, ctx) => void ran.push(ctx.id) },
    logger: silentLogger,
    queues: [q],
    idleMs: 300,
    checkMs: 50,
  });
  try {
    const first = await Promise.all([1, 2, 3].map((i) => a.producer.enqueue(q, { name: 'work', data: { i } })));
    await drain.start();
    assert.deepEqual(drain.draining, [`${oldRedis.url} ${q}`]);
    await waitFor('the old jobs to run', () => ran.length === 3);
    await waitFor('the drain to stop once the old side stayed empty', () => drain.draining.length === 0);
    assert.deepEqual(ran.sort(), first.map((r) => r.id).sort());
    // A producer that was not switched yet: the drain picks the queue up again.
    const late = await a.producer.enqueue(q, { name: 'work' });
    await waitFor('the late job to run', () => ran.includes(late.id));
    await waitFor('the drain to stop again', () => drain.draining.length === 0);
    assert.equal(ran.length, 4);
    assert.equal((await a.inspector.summary(q)).counts.completed, 4);
  } finally {
    await drain.stop();
  }
});

test('a worker process with DRAIN_REDIS_URLS runs jobs from both deployments and empties the old one', async () => {
  const q = uniqueQueue('proc');
  const onOld = await Promise.all([1, 2, 3, 4, 5].map(() => a.producer.enqueue(q, { name: 'noop' })));
  const worker = spawnConveyor('worker', { REDIS_URL: newRedis.url, DRAIN_REDIS_URLS: oldRedis.url, QUEUES: q });
  try {
    await worker.waitForLine('"draining other deployments too"', (j) => j.msg === 'draining other deployments too');
    const onNew = await b.producer.enqueue(q, { name: 'noop' });
    await waitFor('every job completed where it was', async () => {
      const [sa, sb] = await Promise.all([a.inspector.summary(q), b.inspector.summary(q)]);
      return sa.counts.completed === onOld.length && sb.counts.completed === 1;
    }, { timeoutMs: 15_000 });
    const left = (await a.inspector.summary(q)).counts;
    assert.equal(left.waiting + left.active + left.delayed, 0);
    assert.equal((await b.inspector.getJob(q, onNew.id))?.state, 'completed');
  } finally {
    assert.equal(await worker.stop(), 0);
  }
});
