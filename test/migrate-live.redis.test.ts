/**
 * The zero-downtime move, end to end: two spawned Redis servers, a steady
 * producer that switches from the old deployment to the new one in the
 * middle, the old fleet stopping, new workers that also drain the old side
 * (DualDrain), and `conveyor migrate` run as a real CLI process while jobs
 * keep flowing. Every acknowledged job id must complete exactly once, and the
 * old side must end empty. Prints the figures (jobs moved, time, duplicates).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { DualDrain } from '../shared/migrate/dual-drain.ts';
import type { Handler } from '../shared/runtime/handler.ts';
import type { MigrationReport } from '../shared/migrate/migration.ts';

const ROOT = join(import.meta.dirname, '..');
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/** Runs the real CLI; resolves with its exit code, stdout and stderr. */
function conveyor(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'conveyor.js'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
}

type Side = 'old' | 'new';

test('live migration under steady load: every acknowledged job completes exactly once and the old side ends empty', async (t) => {
  const [oldRedis, newRedis]: [RedisProcess, RedisProcess] = await Promise.all([startRedis(), startRedis()]);
  cleanup.push(() => oldRedis.stop(), () => newRedis.stop());
  const [oldCore, newCore]: [Core, Core] = await Promise.all([openCore(testConfig(oldRedis.url)), openCore(testConfig(newRedis.url))]);
  cleanup.push(() => oldCore.close(), () => newCore.close());
  const q = uniqueQueue('move');

  // Who ran what, where, when.
  const completions = new Map<string, { side: Side; at: number }[]>();
  const failedOnce = new Set<string>();
  const handlers = (side: Side): Record<string, Handler> => ({
    record: async (_d, ctx) => {
      await sleep(2);
      const runs = completions.get(ctx.id) ?? [];
      runs.push({ side, at: Date.now() });
      completions.set(ctx.id, runs);
    },
    flaky: (_d, ctx) => {
      if (!failedOnce.has(ctx.id)) {
        failedOnce.add(ctx.id);
        throw new Error('first run fails on purpose');
      }
      const runs = completions.get(ctx.id) ?? [];
      runs.push({ side, at: Date.now() });
      completions.set(ctx.id, runs);
    },
    boom: () => {
      throw new Error('boom: always fails');
    },
  });

  // Before the move: jobs only `migrate` can move (a long delay, a retry waiting its backoff),
  // dead letters, and a schedule. The delay and the backoff are an hour, longer than any run of
  // this test however slow the machine: no worker can run those jobs before the move, and after it
  // the test promotes them on the new side (a shorter wait would make "moved, not run on the old
  // side" depend on the migration starting before it ran out).
  const HOUR = 3_600_000;
  const acked = new Map<string, number>(); // id → due time (ms)
  const t0 = Date.now();
  const long: string[] = [];
  const longDue = new Map<string, number>(); // id → due time on the old side (BullMQ's timestamp + delay)
  const oldFleet = new WorkerHost({ config: testConfig(oldRedis.url, { CONCURRENCY: '10' }), handlers: handlers('old'), logger: silentLogger, queues: [q] });
  cleanup.push(() => oldFleet.stop());
  await oldFleet.start();
  for (let i = 0; i < 20; i++) {
    // Due no earlier than this (BullMQ stamps the job after this line).
    const before = Date.now();
    const r = await oldCore.producer.enqueue(q, { name: 'record', data: { long: i }, opts: { delay: HOUR } });
    acked.set(r.id, before + HOUR);
    long.push(r.id);
    const job = (await oldCore.queues.source(q).getJob(r.id))!;
    longDue.set(r.id, job.timestamp + job.delay);
  }
  const flaky: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await oldCore.producer.enqueue(q, { name: 'flaky', opts: { attempts: 3, backoff: { type: 'fixed', delay: HOUR } } });
    flaky.push(r.id);
    acked.set(r.id, 0);
  }
  for (let i = 0; i < 3; i++) await oldCore.producer.enqueue(q, { name: 'boom', data: { i }, opts: { attempts: 1 } });
  await oldCore.queues.register(q);
  const schedules = (await import('../shared/queue/schedules.ts')).Schedules;
  await new schedules(oldCore.queues, oldCore.producer).put(`${q}-nightly`, { queue: q, name: 'record', cron: '0 3 1 1 *' });
  await waitFor('the flaky jobs to fail once and the boom jobs to be dead letters', async () => failedOnce.size === 5 && (await oldCore.inspector.summary(q)).counts.dead === 3);

  // A steady producer: one job every 4 ms, some delayed, some prioritized.
  let target: Core = oldCore;
  let producing = true;
  let sent = 0;
  const producer = (async () => {
    while (producing) {
      const i = sent++;
      const delay = i % 10 === 0 ? 1500 : 0;
      const before = Date.now();
      const r = await target.producer.enqueue(q, { name: 'record', data: { i }, opts: { ...(delay ? { delay } : {}), ...(i % 7 === 0 ? { priority: 3 } : {}) } });
      acked.set(r.id, delay ? before + delay : 0);
      await sleep(4);
    }
  })();

  await waitFor('100 jobs acknowledged by the old side', () => sent >= 100, { timeoutMs: 20_000 });
  // The new fleet: workers on the new Redis that also drain the old one.
  const newConfig = testConfig(newRedis.url, { CONCURRENCY: '10', DRAIN_REDIS_URLS: oldRedis.url });
  const newFleet = new WorkerHost({ config: newConfig, handlers: handlers('new'), logger: silentLogger, queues: [q] });
  const drain = new DualDrain({ config: newConfig, handlers: handlers('old'), logger: silentLogger, queues: [q], idleMs: 500, checkMs: 200 });
  cleanup.push(() => newFleet.stop(), () => drain.stop());
  await newFleet.start();
  await drain.start();
  await oldFleet.stop(); // the old fleet is retired; the drain consumes the old side now

  await waitFor('150 jobs acknowledged', () => sent >= 150, { timeoutMs: 20_000 });
  const migStart = Date.now() - t0;
  const delayedBefore = (await oldCore.inspector.summary(q)).counts;
  const migration = conveyor(['migrate', '--from', oldRedis.url, '--to', newRedis.url, '--json']);
  await waitFor('300 jobs acknowledged', () => sent >= 300, { timeoutMs: 20_000 });
  target = newCore; // producers switch to the new deployment while the migration runs
  const switchedAt = sent;
  const mig = await migration;
  assert.equal(mig.code, 0, mig.stderr);
  const report = JSON.parse(mig.stdout) as MigrationReport;
  await waitFor('600 jobs acknowledged', () => sent >= 600, { timeoutMs: 20_000 });
  producing = false;
  await producer;

  // The long-delayed jobs and the retries are on the new side, still delayed, due when they were
  // (never run on the old side); promoted there, they run there.
  const newSource = newCore.queues.source(q);
  for (const id of [...long, ...flaky]) {
    assert.equal(completions.get(id), undefined, `${id} did not run before the move`);
    const job = await newSource.getJob(id);
    assert.equal(await job?.getState(), 'delayed', `${id} is delayed on the new side`);
    if (longDue.has(id)) assert.equal(job!.timestamp + job!.delay, longDue.get(id), `${id} keeps its due time`);
    await job!.promote();
    acked.set(id, 0); // due now: promoted
  }

  // Everything acknowledged completes; the old side empties.
  await waitFor('every acknowledged job to complete', () => [...acked.keys()].every((id) => completions.has(id)), { timeoutMs: 20_000 });
  await waitFor('the old side empty and no longer drained', async () => {
    const s = await oldCore.inspector.summary(q);
    return s.counts.waiting + s.counts.active + s.counts.delayed + s.counts.dead === 0 && drain.draining.length === 0;
  }, { timeoutMs: 10_000 });
  await sleep(300); // a duplicate run would show up now, not later: let any straggler finish

  const duplicates = [...completions].filter(([, runs]) => runs.length > 1);
  const moved = report.totals.moved;
  const bySide = { old: 0, new: 0 };
  for (const runs of completions.values()) for (const r of runs) bySide[r.side]++;
  t.diagnostic(`jobs acknowledged: ${acked.size} (${switchedAt} before the producer switched); moved by migrate: ${moved} (${JSON.stringify(report.queues[0]?.moved)}) in ${report.durationMs} ms; left active on the old side: ${report.totals.leftActive}`);
  t.diagnostic(`flaky ran on: ${flaky.map((id) => completions.get(id)?.map((r) => `${r.side}@${r.at - t0}`)).join(' ')}; skipped: ${JSON.stringify(report.queues[0]?.skipped)}`);
  t.diagnostic(`migrate started at ${migStart} ms; old side then: ${JSON.stringify(delayedBefore)}`);
  t.diagnostic(`completions on the old side: ${bySide.old}, on the new side: ${bySide.new}; duplicates: ${duplicates.length}; whole run ${Date.now() - t0} ms`);
  assert.deepEqual(duplicates.map(([id, runs]) => `${id} ran ${runs.length} times: ${runs.map((r) => `${r.side}@${r.at - t0}ms`).join(', ')}`), []);
  // Nothing ran before it was due, on either side.
  for (const [id, due] of acked) {
    const run = completions.get(id)![0]!;
    assert.ok(run.at >= due, `${id} ran ${due - run.at} ms early`);
  }
  // The long-delayed jobs and the retries were moved by migrate (not run early, not left behind).
  assert.ok(report.queues[0]!.moved.delayed >= 20, `moved delayed: ${report.queues[0]!.moved.delayed}`);
  assert.deepEqual(long.filter((id) => completions.get(id)![0]!.side !== 'new'), [], 'every long-delayed job moved and ran on the new side');
  assert.equal(report.queues[0]!.moved.dead, 3);
  assert.deepEqual(report.schedules.moved, [`${q}-nightly`]);
  // The retries kept their remaining attempts (3 - 1 made) on the new side.
  for (const id of flaky) {
    assert.equal(completions.get(id)![0]!.side, 'new', 'a retry waiting its backoff was moved');
    assert.equal((await newCore.inspector.getJob(q, id))?.opts.attempts, 2);
  }
  assert.equal((await newCore.inspector.summary(q)).counts.dead, 3);
  const sched = new schedules(newCore.queues, newCore.producer);
  assert.equal((await sched.get(`${q}-nightly`)).paused, false);
  assert.equal((await new schedules(oldCore.queues, oldCore.producer).list()).length, 0);
});
