/**
 * Flow control with real Redis and several worker processes: fleet-wide
 * per-key and per-queue concurrency (measured by a handler that counts, in
 * Redis, the jobs of its key running at once across processes), fairness
 * between keys, per-queue and per-key rates, debounce and throttle, limits
 * changed while jobs run, no slot leak after kill -9, and bad input.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { isConveyorError } from '../shared/errors.ts';

let redis: RedisProcess;
let core: Core;
const procs: ConveyorProcess[] = [];
const HANDLERS = join(import.meta.dirname, 'fixtures', 'flow-handlers.ts');

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined)));
  await closeRedisAndCore(redis, core);
});

async function startWorker(queue: string, env: Record<string, string> = {}): Promise<ConveyorProcess> {
  const p = spawnConveyor('worker', {
    REDIS_URL: redis.url,
    FLOW_TEST_REDIS: redis.url,
    QUEUES: queue,
    HANDLERS,
    CONCURRENCY: '10',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '500',
    LOG_LEVEL: 'info',
    ...env,
  });
  procs.push(p);
  await p.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  return p;
}

async function stopAll(ps: ConveyorProcess[]): Promise<void> {
  await Promise.all(ps.map((p) => (p.exitCode() === undefined ? p.stop('SIGTERM') : undefined)));
}

const maxRunning = async (queue: string, key: string) => Number((await core.conn.get(`flowtest:{${queue}}:max:${key}`)) ?? 0);
/** Every start, in the order Redis saw them: {key, id, at, pid}. */
async function starts(queue: string): Promise<{ key: string; id: string; at: number; pid: string }[]> {
  return (await core.conn.lrange(`flowtest:{${queue}}:starts`, 0, -1)).map((l) => {
    const [key, id, at, pid] = l.split(' ');
    return { key: key!, id: id!, at: Number(at), pid: pid! };
  });
}

async function enqueueMany(queue: string, n: number, opts: Record<string, unknown>, data: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'flow', data, opts }));
    ids.push(...(await core.producer.enqueueBulk(queue, batch)).ids);
  }
  return ids;
}

async function allCompleted(queue: string, total: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${total} jobs completed on ${queue}`, async () => (await core.inspector.summary(queue)).counts.completed >= total, { timeoutMs, intervalMs: 100 });
}

test('per-key concurrency holds fleet-wide across 3 worker processes, and each key uses all of it', async () => {
  const q = uniqueQueue('flow-key');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 2, overrides: { big: { concurrency: 4 } } } });
  const ws = await Promise.all([startWorker(q), startWorker(q), startWorker(q)]);
  await enqueueMany(q, 40, { key: 'a' }, { ms: 40 });
  await enqueueMany(q, 40, { key: 'b' }, { ms: 40 });
  await enqueueMany(q, 40, { key: 'big' }, { ms: 40 });
  await allCompleted(q, 120);
  assert.equal(await maxRunning(q, 'a'), 2, 'key a: at most 2 at once, and 2 were reached');
  assert.equal(await maxRunning(q, 'b'), 2, 'key b: at most 2 at once, and 2 were reached');
  assert.equal(await maxRunning(q, 'big'), 4, 'the override: at most 4 at once, and 4 were reached');
  const pids = new Set((await starts(q)).map((s) => s.pid));
  assert.ok(pids.size >= 2, `jobs ran in several processes (${pids.size})`);
  const status = await core.conveyor.queues.limits(q);
  assert.equal(status.held, 0);
  assert.equal(status.admitted, 0, 'every slot was given back');
  await stopAll(ws);
});

test('per-queue concurrency holds fleet-wide (BullMQ global concurrency) across 3 processes', async () => {
  const q = uniqueQueue('flow-queue');
  await core.conveyor.queues.setLimits(q, { concurrency: 3 });
  const ws = await Promise.all([startWorker(q), startWorker(q), startWorker(q)]);
  await enqueueMany(q, 60, {}, { ms: 30 });
  await allCompleted(q, 60);
  assert.equal(await maxRunning(q, ''), 3, 'at most 3 at once over 30 worker slots, and 3 were reached');
  await stopAll(ws);
});

test('fairness: a key with a 20,000-job backlog does not delay a key with 50', async () => {
  const q = uniqueQueue('flow-fair');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 5 } });
  await enqueueMany(q, 20_000, { key: 'a' });
  const w = await startWorker(q);
  await waitFor('key a running', async () => (await starts(q)).length >= 200, { timeoutMs: 30_000 });
  const aBefore = (await starts(q)).length;
  const bIds = new Set(await enqueueMany(q, 50, { key: 'b' }));
  await waitFor('every b job started', async () => (await starts(q)).filter((s) => s.key === 'b').length === 50, { timeoutMs: 30_000, intervalMs: 50 });
  const all = await starts(q);
  let lastB = -1;
  all.forEach((s, i) => {
    if (bIds.has(s.id)) lastB = i;
  });
  const aBetween = all.slice(aBefore, lastB + 1).filter((s) => s.key === 'a').length;
  // Bound: the gate keeps at most GATE_BUFFER (256) plus the running jobs (10) admitted and waiting in
  // BullMQ, and serves keys round-robin, so b's 50 jobs start within about 266 + 50 of a's.
  assert.ok(aBetween < 1000, `key a ran ${aBetween} jobs while b's 50 started (bound 1,000)`);
  await w.stop('SIGKILL');
  await core.conveyor.queues.clearLimits(q);
});

test('per-queue rate over a 10 s run: never more than max per window (one window of slack at the edges)', async () => {
  const q = uniqueQueue('flow-rate');
  const max = 20;
  const perMs = 1000;
  await core.conveyor.queues.setLimits(q, { rate: { max, perMs } });
  await enqueueMany(q, 2000, {});
  const ws = await Promise.all([startWorker(q), startWorker(q), startWorker(q)]);
  const first = await waitFor('first start', async () => (await starts(q))[0]);
  await waitFor('10 s of starts', async () => {
    const s = await starts(q);
    return s.length > 0 && s[s.length - 1]!.at - first.at >= 10_000;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  await stopAll(ws);
  const s = (await starts(q)).filter((x) => x.at - first.at < 10_000);
  // Any window of perMs holds at most 2 × max (BullMQ's windows are fixed, ours slide over them).
  let worst = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i]!.at - s[j]!.at >= perMs) j++;
    worst = Math.max(worst, i - j + 1);
  }
  assert.ok(worst <= 2 * max, `at most ${2 * max} starts in any ${perMs} ms (saw ${worst})`);
  assert.ok(s.length <= max * 11, `at most ${max} per window over 10 windows, one window of slack (saw ${s.length})`);
  assert.ok(s.length >= max * 3, `the limit let jobs run (${s.length} in 10 s)`);
  assert.ok((await core.inspector.summary(q)).counts.waiting > 0, 'the rate, not the backlog, was the limit');
});

test('per-key rate: a key gets at most max per window while another key runs freely', async () => {
  const q = uniqueQueue('flow-key-rate');
  await core.conveyor.queues.setLimits(q, { perKey: { rate: { max: 5, perMs: 1000 }, overrides: { free: { rate: { max: 100_000, perMs: 1000 } } } } });
  await enqueueMany(q, 40, { key: 'slow' });
  await enqueueMany(q, 200, { key: 'free' });
  const w = await startWorker(q);
  await waitFor('free done', async () => (await starts(q)).filter((s) => s.key === 'free').length === 200, { timeoutMs: 30_000 });
  await waitFor('3 s of slow starts', async () => {
    const slow = (await starts(q)).filter((s) => s.key === 'slow');
    return slow.length >= 15;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  const slow = (await starts(q)).filter((s) => s.key === 'slow');
  let worst = 0;
  for (let i = 0, j = 0; i < slow.length; i++) {
    while (slow[i]!.at - slow[j]!.at >= 1000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  assert.ok(worst <= 10, `slow: at most 2 × 5 starts in any second (saw ${worst})`);
  const job = (await core.conveyor.queues.limits(q)).keys.find((k) => k.key === 'slow');
  assert.ok(job && job.held > 0, 'slow still has held jobs: the rate holds them');
  await w.stop('SIGKILL');
});

test('a job held by a key limit says so; counts include held jobs', async () => {
  const q = uniqueQueue('flow-held');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 1 } });
  const a = await core.conveyor.enqueue(q, { name: 'flow', data: { ms: 60_000 }, opts: { key: 'acme' } });
  const b = await core.conveyor.enqueue(q, { name: 'flow', data: {}, opts: { key: 'acme' } });
  // No worker yet: a is admitted (waiting in BullMQ), b is held behind it.
  const jb = await core.conveyor.getJob(q, b.id);
  assert.equal(jb?.state, 'waiting');
  assert.equal(jb?.heldBy, 'key-concurrency');
  assert.equal(jb?.opts.key, 'acme');
  const ja = await core.conveyor.getJob(q, a.id);
  assert.equal(ja?.state, 'waiting');
  assert.equal(ja?.heldBy, undefined);
  const summary = await core.conveyor.queues.get(q);
  assert.equal(summary.counts.held, 1);
  assert.equal(summary.counts.waiting, 2);
  const status = await core.conveyor.queues.limits(q);
  assert.deepEqual(status.keys, [{ key: 'acme', held: 1, running: 1, waitingOn: 'key-concurrency' }]);
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 2 } });
  const jb2 = await core.conveyor.getJob(q, b.id);
  assert.equal(jb2?.state, 'waiting');
  assert.equal(jb2?.heldBy, undefined, 'a raised limit lets the held job go at once, while a still holds its slot');
  assert.equal((await core.conveyor.queues.get(q)).counts.held, 0);
});

test('limits changed while jobs run: raising a key concurrency takes effect without restart', async () => {
  const q = uniqueQueue('flow-change');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 1 } });
  const w = await startWorker(q);
  await enqueueMany(q, 10, { key: 'k' }, { ms: 100 });
  await waitFor('some ran', async () => (await starts(q)).length >= 3, { timeoutMs: 20_000 });
  assert.equal(await maxRunning(q, 'k'), 1);
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 4 } });
  await enqueueMany(q, 40, { key: 'k' }, { ms: 100 });
  await allCompleted(q, 50);
  assert.equal(await maxRunning(q, 'k'), 4, 'after the change the key ran 4 at once');
  await w.stop();
});

test('no slot leak: workers killed with kill -9 again and again; the key then runs at its full concurrency', async () => {
  const q = uniqueQueue('flow-kill');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 3 } });
  await enqueueMany(q, 30, { key: 'k', attempts: 10 }, { ms: 400 });
  let pool = [await startWorker(q), await startWorker(q)];
  for (let round = 0; round < 3; round++) {
    // Kill whichever process just started a job of k (it holds a slot), then replace it.
    const seen = (await starts(q)).length;
    const victimPid = await waitFor('a new start of k', async () => (await starts(q))[seen]?.pid, { timeoutMs: 20_000 });
    const victim = pool.find((p) => String(p.proc.pid) === victimPid)!;
    victim.proc.kill('SIGKILL');
    await victim.exited;
    pool = [...pool.filter((p) => p !== victim), await startWorker(q)];
  }
  await allCompleted(q, 30, 90_000);
  // The killed jobs' counters in the fixture never went down: reset them, then measure again.
  await core.conn.del(`flowtest:{${q}}:max:k`, `flowtest:{${q}}:running:k`);
  await enqueueMany(q, 30, { key: 'k' }, { ms: 100 });
  await allCompleted(q, 60, 60_000);
  assert.equal(await maxRunning(q, 'k'), 3, 'the key runs 3 at once again: no slot was lost');
  await waitFor('every slot given back', async () => (await core.conveyor.queues.limits(q)).admitted === 0, { timeoutMs: 15_000 });
  await stopAll(pool);
});

test('priority and delay still hold within a key', async () => {
  const q = uniqueQueue('flow-order');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 1 } });
  const first = await core.conveyor.enqueue(q, { name: 'flow', data: { ms: 50 }, opts: { key: 'k' } });
  const low = await core.conveyor.enqueue(q, { name: 'flow', opts: { key: 'k', priority: 10 } });
  const plain = await core.conveyor.enqueue(q, { name: 'flow', opts: { key: 'k' } });
  const high = await core.conveyor.enqueue(q, { name: 'flow', opts: { key: 'k', priority: 1 } });
  const enqueuedAt = Date.now();
  const later = await core.conveyor.enqueue(q, { name: 'flow', opts: { key: 'k', delay: 1500 } });
  const w = await startWorker(q);
  await allCompleted(q, 5);
  // The delayed one may come anywhere once its delay is over (on a slow machine, before the last of
  // the others): the order is of the other four.
  const order = (await starts(q)).map((s) => s.id).filter((id) => id !== later.id);
  // Within the key: the admitted one first, then no priority before priorities (as BullMQ orders them), 1 before 10.
  assert.deepEqual(order, [first.id, plain.id, high.id, low.id]);
  const delayed = (await starts(q)).find((s) => s.id === later.id)!;
  assert.ok(delayed.at - enqueuedAt >= 1500, `the delayed job started ${delayed.at - enqueuedAt} ms after its enqueue (delay 1500)`);
  assert.equal(await maxRunning(q, 'k'), 1, 'the delayed job came back through the gate');
  await w.stop();
});

test('jobs without a key on a queue with perKey limits count as one key', async () => {
  const q = uniqueQueue('flow-nokey');
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: 2 } });
  const w = await startWorker(q);
  await enqueueMany(q, 20, {}, { ms: 50 });
  await allCompleted(q, 20);
  assert.equal(await maxRunning(q, ''), 2);
  await w.stop();
});

test('throttle: at most one job per window; a later enqueue answers the first one with throttled: true', async () => {
  const q = uniqueQueue('flow-throttle');
  const first = await core.conveyor.enqueue(q, { name: 'flow', opts: { throttle: { id: 'report', ms: 60_000 } } });
  const second = await core.conveyor.enqueue(q, { name: 'flow', opts: { throttle: { id: 'report', ms: 60_000 } } });
  assert.equal(first.throttled, undefined);
  assert.equal(second.throttled, true);
  assert.equal(second.id, first.id);
  const other = await core.conveyor.enqueue(q, { name: 'flow', opts: { throttle: { id: 'other', ms: 60_000 } } });
  assert.notEqual(other.id, first.id, 'another id has its own window');
  assert.equal((await core.inspector.summary(q)).counts.waiting, 2);
  const view = await core.conveyor.getJob(q, first.id);
  assert.deepEqual(view?.opts.throttle, { id: 'report', ms: 60_000 });
});

test('debounce: of jobs with the same id within the window only the last one runs, with its data', async () => {
  const q = uniqueQueue('flow-debounce');
  const w = await startWorker(q);
  const ids: string[] = [];
  for (let i = 1; i <= 3; i++) ids.push((await core.conveyor.enqueue(q, { name: 'flow', data: { n: i }, opts: { debounce: { id: 'sync', ms: 400 } } })).id);
  const last = await core.conveyor.waitFor(q, ids[2]!, { timeoutMs: 15_000 });
  assert.deepEqual(last, { ok: true });
  assert.equal((await starts(q)).length, 1, 'one run');
  assert.equal((await starts(q))[0]!.id, ids[2]);
  assert.equal(await core.conveyor.getJob(q, ids[0]!), undefined, 'the first was replaced');
  await w.stop();
});

test('bad limits and bad flow options are refused naming the field; nothing changes', async () => {
  const q = uniqueQueue('flow-bad');
  await core.conveyor.queues.setLimits(q, { concurrency: 5 });
  const bad: [unknown, string][] = [
    [{ concurrency: 0 }, 'limits.concurrency'],
    [{ concurrency: -1 }, 'limits.concurrency'],
    [{ concurrency: 1.5 }, 'limits.concurrency'],
    [{ concurrency: 10_000_000 }, 'limits.concurrency'],
    [{ rate: { max: 10 } }, 'limits.rate.perMs'],
    [{ rate: { max: 10, perMs: 1 } }, 'limits.rate.perMs'],
    [{ perKey: { concurrency: 2, color: 'red' } }, 'limits.perKey'],
    [{ speed: 1 }, 'limits'],
    [{ perKey: { overrides: { ['x'.repeat(129)]: { concurrency: 1 } } } }, 'limits.perKey.overrides'],
  ];
  for (const [limits, path] of bad) {
    await assert.rejects(core.conveyor.queues.setLimits(q, limits as never), (e: unknown) => isConveyorError(e, 'INVALID_REQUEST') && (e.message.startsWith(path) || String(e.details?.path).startsWith(path)), JSON.stringify(limits));
  }
  assert.deepEqual((await core.conveyor.queues.limits(q)).limits, { concurrency: 5 }, 'nothing changed');
  const badOpts: [unknown, string][] = [
    [{ key: '' }, 'opts.key'],
    [{ key: 'x'.repeat(129) }, 'opts.key'],
    [{ key: 'a\u0001b' }, 'opts.key'],
    [{ debounce: { ms: 100 } }, 'opts.debounce.id'],
    [{ throttle: { id: 't' } }, 'opts.throttle.ms'],
    [{ debounce: { id: 'a', ms: 10 }, throttle: { id: 'a', ms: 10 } }, 'opts.throttle'],
  ];
  for (const [opts, path] of badOpts) {
    await assert.rejects(core.conveyor.enqueue(q, { name: 'flow', opts: opts as never }), (e: unknown) => isConveyorError(e, 'INVALID_REQUEST') && e.message.startsWith(path), JSON.stringify(opts));
  }
  assert.equal((await core.inspector.summary(q)).counts.waiting, 0, 'nothing enqueued');
});
