/**
 * The producer's bounded wait: whatever Redis does (stops answering with its
 * socket open, loses its replicas), an enqueue settles within its timeout
 * with a Conveyor error code, never hangs, and works again when Redis does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startRedis } from '../testing/redis-process.ts';
import { startProxy } from '../testing/tcp-proxy.ts';
import { uniqueQueue } from '../testing/fixtures.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { closeRedis, createRedis } from '../redis/connections.ts';
import { isConveyorError } from '../errors.ts';
import { QueueSet } from './queue-set.ts';
import { Producer } from './producer.ts';

const TIMEOUT_MS = 800;

test('a primary that stops answering (socket open) makes enqueue and bulk enqueue reject REDIS_UNAVAILABLE within the timeout; once it answers again they succeed', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const conn = createRedis(parseRedisUrl(proxy.url()), { role: 'producer', commandTimeoutMs: TIMEOUT_MS });
  const queues = new QueueSet(conn);
  t.after(async () => {
    await queues.close();
    await closeRedis(conn);
  });
  const producer = new Producer(queues, { timeoutMs: TIMEOUT_MS, redisLabel: 'test' });
  const q = uniqueQueue('bounded');
  await producer.enqueue(q, { name: 'warm-up' });

  proxy.freeze();
  for (const attempt of [() => producer.enqueue(q, { name: 'x' }), () => producer.enqueueBulk(q, [{ name: 'a' }, { name: 'b' }])]) {
    const t0 = performance.now();
    await assert.rejects(attempt(), (err) => isConveyorError(err, 'REDIS_UNAVAILABLE'));
    const ms = performance.now() - t0;
    // Not before the timeout; the upper bound says "never a hang" (10 s), not how fast the machine is.
    assert.ok(ms >= TIMEOUT_MS - 50 && ms < 10_000, `settled after ${Math.round(ms)} ms`);
  }
  proxy.thaw();
  const { id } = await producer.enqueue(q, { name: 'after' });
  assert.ok(id);
});

test('durable enqueue without enough replicas answers DURABILITY_NOT_CONFIRMED, and so does a retry with the same jobId (not "duplicate")', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const conn = createRedis(parseRedisUrl(redis.url), { role: 'producer' });
  const queues = new QueueSet(conn);
  t.after(async () => {
    await queues.close();
    await closeRedis(conn);
  });
  const producer = new Producer(queues, { minReplicas: 1, waitTimeoutMs: 200 });
  const q = uniqueQueue('durable');
  const input = { name: 'x', opts: { jobId: 'order-1' } };
  await assert.rejects(producer.enqueue(q, input), (err) => isConveyorError(err, 'DURABILITY_NOT_CONFIRMED'));
  // The job exists on the primary, but no replica holds it: a retry must not claim it is safe.
  await assert.rejects(producer.enqueue(q, input), (err) => isConveyorError(err, 'DURABILITY_NOT_CONFIRMED'));
  assert.deepEqual(await new Producer(queues).enqueue(q, input), { id: 'order-1', queue: q, name: 'x', duplicate: true }, 'without durability the retry is a duplicate');
});
