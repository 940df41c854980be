/**
 * The per-connection guards that replace ioredis' per-command timers
 * (liveness.ts): a command never waits longer than its command timeout,
 * a socket with no reply for the socket timeout is dropped and reconnected,
 * and neither arms anything per command.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { startRedis } from '../testing/redis-process.ts';
import { startProxy, type TcpProxy } from '../testing/tcp-proxy.ts';
import { freePort } from '../testing/free-port.ts';
import { once } from '../testing/wait-for.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { closeRedis, createRedis } from './connections.ts';
import { guardConnection, guardTickMs } from './liveness.ts';

const TIMEOUT_MS = 400;
/**
 * "Never a hang": a command that the guard fails does so long before this
 * (the guard fires within a tick or two of its timeout; how soon depends on
 * the machine's load, so that is printed, not asserted).
 */
const LIVENESS_MS = 10_000;
const tick = guardTickMs({ commandTimeoutMs: TIMEOUT_MS, socketTimeoutMs: TIMEOUT_MS + 1000 });

/** A Redis, a TCP proxy in front of it (to freeze), and a producer connection through the proxy; all closed after the test. */
async function producerBehindProxy(t: TestContext): Promise<{ proxy: TcpProxy; conn: Redis }> {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const conn = createRedis(parseRedisUrl(proxy.url()), { role: 'producer', commandTimeoutMs: TIMEOUT_MS }) as Redis;
  t.after(() => closeRedis(conn));
  return { proxy, conn };
}

async function settleTime(p: Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const t0 = performance.now();
  try {
    await p;
    return { ms: performance.now() - t0, err: undefined };
  } catch (err) {
    return { ms: performance.now() - t0, err };
  }
}

test('a producer connection arms no ioredis timer per command: its timeouts are the guard\'s', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const conn = createRedis(parseRedisUrl(redis.url), { role: 'producer', commandTimeoutMs: TIMEOUT_MS }) as Redis;
  t.after(() => closeRedis(conn));
  assert.equal(await conn.ping(), 'PONG');
  assert.equal(conn.options.commandTimeout, undefined);
  assert.equal(conn.options.socketTimeout, undefined);
  // The internals the guard reads are there (otherwise it falls back to ioredis' options, set above).
  assert.equal(guardConnection(conn, { commandTimeoutMs: TIMEOUT_MS, socketTimeoutMs: TIMEOUT_MS + 1000 }), true);
  const internals = conn as unknown as { commandQueue: { length: number; peekFront(): { command: { _commandTimeoutTimer?: unknown } } | undefined } };
  const pending = conn.set('k', 'v');
  const queued = internals.commandQueue.peekFront()?.command;
  assert.ok(queued, 'the SET is in flight');
  assert.equal(queued._commandTimeoutTimer, undefined, 'no per-command timer');
  assert.equal(await pending, 'OK');
});

test('a primary that stops answering (socket open): the command fails with "Command timed out" within the command timeout, the socket is dropped, and the connection works again when it answers', async (t) => {
  const { proxy, conn } = await producerBehindProxy(t);
  assert.equal(await conn.ping(), 'PONG');

  proxy.freeze();
  const closed = once(conn, 'close', 10_000);
  const { ms, err } = await settleTime(conn.get('x'));
  assert.match(String((err as Error)?.message), /Command timed out/);
  // Not before the timeout (the timeout is what failed it); a liveness bound above, not a speed assertion.
  assert.ok(ms >= TIMEOUT_MS - 5 && ms < LIVENESS_MS, `failed after ${Math.round(ms)} ms (timeout ${TIMEOUT_MS}, tick ${tick})`);
  // The socket timeout (command timeout + 1 s) drops the frozen socket.
  await closed;
  proxy.thaw();
  assert.equal(await conn.ping(), 'PONG');
});

test('a worker connection (no command timeout) drops a socket that gets no reply for the socket timeout, reconnects and resends the command', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const conn = new Redis({ host: proxy.host, port: proxy.port, maxRetriesPerRequest: null, retryStrategy: () => 50 });
  conn.on('error', () => {}); // the socket timeout is reported as an error event
  t.after(() => conn.disconnect());
  guardConnection(conn, { socketTimeoutMs: 300 });
  await conn.set('k', 'before');

  proxy.freeze();
  const t0 = performance.now();
  const closed = once(conn, 'close', 10_000);
  const reply = conn.get('k');
  await closed;
  const ms = performance.now() - t0;
  assert.ok(ms >= 295 && ms < LIVENESS_MS, `dropped after ${Math.round(ms)} ms`);
  proxy.thaw();
  assert.equal(await reply, 'before', 'the command is resent on the new socket and answered');
});

test('commands waiting for a connection (Redis unreachable) fail after the command timeout, not never', async (t) => {
  const port = await freePort();
  const conn = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null, retryStrategy: () => 100, lazyConnect: false });
  conn.on('error', () => {});
  t.after(() => conn.disconnect());
  guardConnection(conn, { commandTimeoutMs: 300, socketTimeoutMs: 1300 });
  const { ms, err } = await settleTime(conn.get('x'));
  assert.match(String((err as Error)?.message), /Command timed out/);
  assert.ok(ms >= 295 && ms < LIVENESS_MS, `failed after ${Math.round(ms)} ms`);
});

test('WAIT gets its own timeout on top of the command timeout (a durable enqueue may wait longer than a plain command)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const conn = createRedis(parseRedisUrl(redis.url), { role: 'producer', commandTimeoutMs: 200 }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.set('k', 'v');
  // No replica: WAIT blocks its full 700 ms and answers 0.
  const { ms, err } = await settleTime(conn.call('WAIT', 1, 700));
  assert.equal(err, undefined, `WAIT failed: ${String(err)}`);
  assert.ok(ms >= 690, `answered after ${Math.round(ms)} ms`);
});

test("BullMQ's duplicates of a connection are guarded too", async (t) => {
  const { proxy, conn } = await producerBehindProxy(t);
  const dup = conn.duplicate();
  t.after(() => closeRedis(dup));
  assert.equal(await dup.ping(), 'PONG');
  proxy.freeze();
  const { ms, err } = await settleTime(dup.get('x'));
  assert.match(String((err as Error)?.message), /Command timed out/);
  assert.ok(ms >= TIMEOUT_MS - 5 && ms < LIVENESS_MS, `failed after ${Math.round(ms)} ms (tick ${tick})`);
  proxy.thaw();
});

test('a Cluster connection with no reachable node fails a command after the command timeout', async (t) => {
  const port = await freePort();
  const conn = createRedis(parseRedisUrl(`redis-cluster://127.0.0.1:${port}`), { role: 'producer', commandTimeoutMs: 300 });
  t.after(() => closeRedis(conn));
  const { ms, err } = await settleTime(conn.get('x'));
  assert.match(String((err as Error)?.message), /Command timed out/);
  assert.ok(ms >= 295 && ms < LIVENESS_MS, `failed after ${Math.round(ms)} ms`);
});
