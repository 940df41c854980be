/**
 * `conveyor migrate` is idempotent and resumable: a second run adds nothing,
 * journals left by a crash are finished (each crash window staged by hand),
 * and a CLI process killed with SIGKILL in the middle of 10 000 jobs is
 * completed by a rerun with every job on the new side once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { migrate, type Side } from '../shared/migrate/migration.ts';
import { migrateKeys } from '../shared/migrate/migrate-keys.ts';
import { emptyTally, moveState, snapshotOf, type MoveSide } from '../shared/migrate/job-move.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { silentLogger } from '../shared/log.ts';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const ROOT = join(import.meta.dirname, '..');
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

const side = (c: Core, label: string): Side => ({ label, conn: c.conn, queues: c.queues, inspector: c.inspector, schedules: new Schedules(c.queues, c.producer) });
const run = (queues: string[], opts: { dryRun?: boolean; withHistory?: boolean } = {}) => migrate(side(a, 'old'), side(b, 'new'), { queues, ...opts });

test('a second run moves nothing: ids, data, options and due times are kept once', async () => {
  const q = uniqueQueue('twice');
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push((await a.producer.enqueue(q, { name: 'w', data: { i } })).id);
  const delayed = await a.producer.enqueue(q, { name: 'later', data: { x: 1 }, opts: { delay: 3_600_000, attempts: 7, timeout: 9000, backoff: { type: 'fixed', delay: 50 } } });
  const prio = await a.producer.enqueue(q, { name: 'p', opts: { priority: 9 } });
  await new Schedules(a.queues, a.producer).put(`${q}-s`, { queue: q, name: 'tick', cron: '*/10 * * * *', tz: 'Europe/Paris' });
  const due = Date.parse((await a.inspector.getJob(q, delayed.id))!.createdAt!) + 3_600_000;

  const first = await run([q]);
  assert.deepEqual(first.queues[0]!.moved, { waiting: 30, prioritized: 1, delayed: 1, dead: 0 });
  assert.deepEqual(first.schedules.moved, [`${q}-s`]);
  const second = await run([q]);
  assert.equal(second.totals.moved, 0);
  assert.deepEqual(second.schedules.moved, []);

  const s = await b.inspector.summary(q);
  assert.equal(s.counts.waiting, 31);
  // the schedule's own next run is the other delayed job
  assert.equal(s.counts.delayed, 2);
  const moved = (await b.inspector.getJob(q, delayed.id))!;
  assert.equal(moved.name, 'later');
  assert.deepEqual(moved.data, { x: 1 });
  assert.deepEqual({ attempts: moved.opts.attempts, timeout: moved.opts.timeout, backoff: moved.opts.backoff }, { attempts: 7, timeout: 9000, backoff: { type: 'fixed', delay: 50 } });
  assert.equal(Date.parse(moved.createdAt!) + moved.opts.delay!, due);
  assert.equal((await b.inspector.getJob(q, prio.id))?.opts.priority, 9);
  for (const id of ids) assert.equal((await b.inspector.getJob(q, id))?.state, 'waiting');
  const sa = await a.inspector.summary(q);
  assert.equal(sa.counts.waiting + sa.counts.delayed, 0);
  assert.equal(sa.paused, false, 'the old queue is resumed after the move');
  const sched = await new Schedules(b.queues, b.producer).get(`${q}-s`);
  assert.equal(sched.tz, 'Europe/Paris');
  assert.equal(sched.paused, false);
});

test('journals a crash left behind are finished: removed-not-added, snapshotted-not-removed, and ran-meanwhile', async () => {
  const q = uniqueQueue('journal');
  // Oldest first: "ran" is the job a worker takes below.
  const ids: Record<string, string> = {};
  for (const n of ['ran', 'gone', 'stays']) ids[n] = (await a.producer.enqueue(q, { name: n, data: { n }, opts: { jobId: `job-${n}` } })).id;
  const src = a.queues.source(q);
  const snap = async (id: string) => JSON.stringify(snapshotOf((await src.getJob(id))!, undefined));
  // The state a crash leaves: snapshots journaled, the queue paused by migrate...
  await a.conn.hset(migrateKeys.jobs(q), { 'job-ran': await snap('job-ran'), 'job-gone': await snap('job-gone'), 'job-stays': await snap('job-stays') });
  await a.conn.set(migrateKeys.pausedByMigrate(q), 'crashed run');
  // ...one job already removed from the old side (the crash came before the add)...
  await src.remove('job-gone');
  // ...and one a worker ran on the old side meanwhile (someone had resumed the queue by hand).
  const conn = new Redis({ port: oldRedis.port, maxRetriesPerRequest: null });
  const w = new Worker(src.name, null, { connection: conn, prefix: 'conveyor', autorun: false });
  const taken = await w.getNextJob('tok');
  assert.equal(taken?.id, 'job-ran');
  await taken!.moveToCompleted('done', 'tok', false);
  await w.close();
  conn.disconnect();
  await src.pause();

  const report = await run([q]);
  const r = report.queues[0]!;
  assert.equal(r.resumed, 3);
  const onNew = (await b.inspector.listJobs(q, 'waiting')).jobs.map((j) => j.id).sort();
  assert.deepEqual(onNew, ['job-gone', 'job-stays'], 'each journaled job once, except the one that ran on the old side');
  assert.ok(r.skipped.some((s) => s.ids.includes('job-ran') && /ran on the old side/.test(s.reason)));
  assert.equal((await a.inspector.getJob(q, 'job-ran'))?.state, 'completed');
  assert.equal(await a.conn.hlen(migrateKeys.jobs(q)), 0);
  assert.equal(await a.conn.exists(migrateKeys.pausedByMigrate(q)), 0);
  assert.equal(await src.isPaused(), false, 'the queue a crashed run had paused is resumed');
});

test('a queue an operator paused stays paused on the old side and is paused on the new side', async () => {
  const q = uniqueQueue('paused');
  await a.producer.enqueue(q, { name: 'x' });
  await a.inspector.pause(q);
  const r = await run([q]);
  assert.equal(r.queues[0]!.paused, true);
  assert.equal(await a.queues.source(q).isPaused(), true);
  assert.equal((await b.inspector.summary(q)).paused, true);
});

test('--dry-run counts and writes nothing on either side', async () => {
  const q = uniqueQueue('dry');
  for (let i = 0; i < 4; i++) await a.producer.enqueue(q, { name: 'x', opts: { delay: i ? 60_000 : 0 } });
  const r = await run([q], { dryRun: true });
  assert.deepEqual(r.queues[0]!.moved, { waiting: 1, prioritized: 0, delayed: 3, dead: 0 });
  assert.equal((await a.inspector.summary(q)).counts.delayed, 3);
  assert.equal(await b.inspector.exists(q), false);
});

test('--with-history copies completed jobs so their results can still be looked up', async () => {
  const q = uniqueQueue('hist');
  const { id } = await a.producer.enqueue(q, { name: 'answer', data: { v: 1 } });
  const host = new WorkerHost({ config: testConfig(oldRedis.url), handlers: { answer: () => ({ answer: 42 }) }, logger: silentLogger, queues: [q] });
  await host.start();
  try {
    await waitFor('completed', async () => (await a.inspector.getJob(q, id))?.state === 'completed');
  } finally {
    await host.stop();
  }
  const r = await run([q], { withHistory: true });
  assert.equal(r.queues[0]!.history?.completed, 1);
  const copy = await b.inspector.getJob(q, id);
  assert.equal(copy?.state, 'completed');
  assert.deepEqual(copy?.returnValue, { answer: 42 });
  assert.equal((await run([q], { withHistory: true })).queues[0]!.history?.alreadyThere, 1);
});

test('a removal that ran but whose reply was lost (the script resent after a reconnect, or a killed run\'s last script) still moves the batch', async () => {
  const q = uniqueQueue('lostreply');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await a.producer.enqueue(q, { name: 'w', data: { i } })).id);
  // ioredis resends a command left unanswered when its socket drops: the script runs twice and only
  // the second reply (nothing left to remove) reaches the caller. Staged here by running every eval twice.
  const twice = new Proxy(a.conn, {
    get(target, prop, receiver) {
      if (prop !== 'eval') return Reflect.get(target, prop, receiver);
      return async (...args: unknown[]) => {
        await (target.eval as (...x: unknown[]) => Promise<unknown>)(...args);
        return (target.eval as (...x: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
  const from: MoveSide = { queue: a.queues.source(q), conn: twice };
  const to: MoveSide = { queue: b.queues.source(q), conn: b.conn };
  await b.queues.register(q);
  const tally = emptyTally();
  await moveState(from, to, migrateKeys.jobs(q), 'waiting', tally);
  assert.deepEqual([...tally.skipped.keys()], [], 'nothing read as "a worker took it"');
  assert.equal(tally.moved, 5);
  const onNew = await b.conn.lrange(b.queues.source(q).keys.wait!, 0, -1);
  assert.deepEqual(onNew.sort(), [...ids].sort(), 'every job on the new side');
  assert.equal((await a.inspector.summary(q)).counts.waiting, 0);
  assert.equal(await a.conn.hlen(migrateKeys.jobs(q)), 0);
});

test('SIGKILL of `conveyor migrate` in the middle of 10 000 jobs; a rerun finishes: every job on the new side once, none left', async () => {
  const q = uniqueQueue('kill');
  const N = 10_000;
  for (let i = 0; i < N; i += 1000) await a.producer.enqueueBulk(q, Array.from({ length: 1000 }, (_, k) => ({ name: 'bulk', data: { i: i + k } })));
  const cli = (args: string[]) => spawn(process.execPath, [join(ROOT, 'bin', 'conveyor.js'), 'migrate', '--from', oldRedis.url, '--to', newRedis.url, '--queues', q, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } });
  const first = cli([]);
  let progress = '';
  first.stderr.on('data', (d: Buffer) => (progress += d.toString()));
  const exited = new Promise((r) => first.once('exit', r));
  // Kill once a few batches have moved (progress: "<queue>: waiting N/20000").
  await waitFor('some jobs moved', async () => (await b.conn.llen(b.queues.source(q).keys.wait!)) >= 1500, { timeoutMs: 30_000, intervalMs: 5 });
  first.kill('SIGKILL');
  await exited;
  const movedBefore = await b.conn.llen(b.queues.source(q).keys.wait!);
  assert.ok(movedBefore < N, 'killed before the end');

  const second = cli(['--json']);
  let out = '';
  second.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((r) => second.once('exit', r));
  assert.equal(code, 0, progress);
  const report = JSON.parse(out);
  const waitKey = b.queues.source(q).keys.wait!;
  const onNew = await b.conn.lrange(waitKey, 0, -1);
  // On a shortfall, say where the jobs went: the rerun's report (skipped reasons) and the old side's counts.
  assert.equal(onNew.length, N, JSON.stringify({ rerun: report.queues[0], old: (await a.inspector.summary(q)).counts, journal: await a.conn.hlen(migrateKeys.jobs(q)) }));
  assert.equal(new Set(onNew).size, N, 'no id twice');
  assert.equal((await a.inspector.summary(q)).counts.waiting, 0);
  assert.equal(await a.conn.hlen(migrateKeys.jobs(q)), 0);
  assert.equal(await a.queues.source(q).isPaused(), false);
  // The killed run's batch in flight (at most 500, journaled) was finished by the rerun: jobs it had
  // already added count as alreadyThere, the rest as moved.
  assert.equal(movedBefore + report.queues[0].moved.waiting, N);
  assert.ok(report.queues[0].resumed <= 500 && report.queues[0].alreadyThere <= report.queues[0].resumed);
});

test('--from and --to leading to the same server is refused (exit 2)', async () => {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'conveyor.js'), 'migrate', '--from', oldRedis.url, '--to', `redis://localhost:${oldRedis.port}`], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  assert.equal(await new Promise((r) => proc.once('exit', r)), 2);
  assert.match(err, /same Redis server/);
});
