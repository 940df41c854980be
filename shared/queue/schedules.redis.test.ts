import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { RedisProcess } from '../testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../testing/fixtures.ts';
import { waitFor } from '../testing/wait-for.ts';
import { WorkerHost } from '../runtime/worker-host.ts';
import { silentLogger } from '../log.ts';
import { isConveyorError } from '../errors.ts';
import { keys } from './names.ts';
import { noop } from '../../worker/handlers/basic.ts';
import { Schedules, scheduledJobId } from './schedules.ts';
import { repairSchedules } from './schedule-repair.ts';
import { applyScheduleFile } from './schedule-file.ts';

let redis: RedisProcess;
let core: Core;
let schedules: Schedules;
let client: Redis;
const extraCores: Core[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  schedules = new Schedules(core.queues, core.producer, { maxPayloadBytes: 10_000 });
  client = redis.client();
});
after(async () => {
  await Promise.all(extraCores.map((c) => c.close()));
  await closeRedisAndCore(redis, core);
});

const uniqueId = () => `sched-${randomUUID().slice(0, 8)}`;
const YEARLY = '0 0 1 1 *';

async function startWorker(queue: string): Promise<WorkerHost> {
  const host = new WorkerHost({ config: testConfig(redis.url, { CONCURRENCY: '5' }), handlers: { noop }, logger: silentLogger, queues: [queue] });
  await host.start();
  return host;
}

/** Ids of the jobs a schedule produced in any state (the schedule's own naming: repeat:<id>:<millis>). */
async function producedIds(queue: string, id: string): Promise<string[]> {
  const jobs = await core.queues.source(queue).getJobs(['completed', 'active', 'waiting', 'delayed', 'prioritized', 'failed']);
  return jobs.map((j) => String(j.id)).filter((jid) => jid.startsWith(`repeat:${id}:`));
}

function isCode(code: string, pattern?: RegExp) {
  return (err: unknown) => isConveyorError(err) && err.code === code && (!pattern || pattern.test(err.message));
}

test('invalid cron or timezone is INVALID_CRON naming the field, and nothing is stored', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const keysBefore = await client.dbsize();
  await assert.rejects(schedules.put(id, { queue: q, name: 'noop', cron: '*/61 * * * *' }), isCode('INVALID_CRON', /^cron: /));
  await assert.rejects(schedules.put(id, { queue: q, name: 'noop', cron: '* * * * *', tz: 'Mars/Base' }), isCode('INVALID_CRON', /^tz: unknown timezone "Mars\/Base"/));
  await assert.rejects(schedules.put(id, { queue: q, name: 'noop', cron: '* * * * *', color: 'red' }), isCode('INVALID_REQUEST', /unknown field "color"/));
  await assert.rejects(schedules.put(id, { queue: q, name: 'noop', cron: '* * * * *', data: 'x'.repeat(20_000) }), isCode('PAYLOAD_TOO_LARGE'));
  assert.equal(await client.dbsize(), keysBefore);
  assert.equal(await client.hexists(keys.schedules, id), 0);

  // A bad replace leaves the existing schedule as it was.
  await schedules.put(id, { queue: q, name: 'noop', cron: YEARLY });
  const before = await schedules.get(id);
  await assert.rejects(schedules.put(id, { queue: q, name: 'noop', cron: '0 0 31 2 *' }), isCode('INVALID_CRON'));
  assert.deepEqual(await schedules.get(id), before);
  await schedules.remove(id);
});

test('upsert, get and list: the view has the next 5 runs and BullMQ holds one scheduler with one delayed job', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const before = Date.now();
  const created = await schedules.put(id, { queue: q, name: 'report', cron: '*/10 * * * *', data: { kind: 'daily' }, opts: { attempts: 2 } });
  assert.equal(created.created, true);
  const v = created.schedule;
  assert.deepEqual(
    { id: v.id, queue: v.queue, name: v.name, cron: v.cron, tz: v.tz, data: v.data, opts: v.opts, paused: v.paused, managedBy: v.managedBy },
    { id, queue: q, name: 'report', cron: '*/10 * * * *', tz: 'UTC', data: { kind: 'daily' }, opts: { attempts: 2 }, paused: false, managedBy: 'api' },
  );
  assert.equal(v.nextRuns.length, 5);
  const times = v.nextRuns.map((t) => Date.parse(t));
  for (let i = 1; i < 5; i++) assert.equal(times[i]! - times[i - 1]!, 10 * 60_000);
  // After the put began (not after 'now': a 10-minute boundary may pass while the test runs), on a 10-minute mark.
  assert.ok(times[0]! > before && new Date(times[0]!).getUTCMinutes() % 10 === 0);

  const bull = core.queues.source(q);
  const sch = await bull.getJobScheduler(id);
  assert.equal(sch?.next, times[0], 'BullMQ runs the schedule at the first of nextRuns');
  assert.equal(await bull.getJobSchedulersCount(), 1);
  assert.equal(await bull.getDelayedCount(), 1);
  const next = await bull.getJob(scheduledJobId(id, times[0]!));
  assert.deepEqual(next?.data, { kind: 'daily' });
  assert.equal(next?.opts.attempts, 2);
  assert.ok(await client.sismember(keys.queueRegistry, q), 'the queue is registered');

  assert.deepEqual(await schedules.get(id), v);
  assert.ok((await schedules.list()).some((s) => s.id === id));
  assert.deepEqual((await schedules.list({ queue: q })).map((s) => s.id), [id]);

  const replaced = await schedules.put(id, { queue: q, name: 'report', cron: '*/10 * * * *', data: { kind: 'weekly' } });
  assert.equal(replaced.created, false);
  assert.equal(replaced.schedule.createdAt, v.createdAt);
  assert.deepEqual(replaced.schedule.opts, {});
  assert.equal(await bull.getJobSchedulersCount(), 1);
  assert.equal(await bull.getDelayedCount(), 1);
  assert.deepEqual((await bull.getJob(scheduledJobId(id, times[0]!)))?.data, { kind: 'weekly' });

  await schedules.remove(id);
  await assert.rejects(schedules.get(id), isCode('SCHEDULE_NOT_FOUND'));
  await assert.rejects(schedules.remove(id), isCode('SCHEDULE_NOT_FOUND'));
  assert.equal(await bull.getJobSchedulersCount(), 0);
  assert.equal(await bull.getDelayedCount(), 0);
});

test('a 6-field every-second cron produces jobs, one per second, that a worker runs never before their time', async (t) => {
  const q = uniqueQueue();
  const id = uniqueId();
  const worker = await startWorker(q);
  t.after(() => worker.stop());
  await schedules.put(id, { queue: q, name: 'noop', cron: '* * * * * *' });
  const done = await waitFor('3 scheduled runs completed', async () => {
    const jobs = (await core.queues.source(q).getCompleted()).filter((j) => String(j.id).startsWith(`repeat:${id}:`));
    return jobs.length >= 3 ? jobs : undefined;
  }, { timeoutMs: 10_000 });
  const lateness = done.map((job) => job.processedOn! - Number(String(job.id).split(':').pop()));
  t.diagnostic(`start lateness after the cron time (ms): ${lateness.join(', ')}`);
  // Never early; how late depends on the machine's load (printed above), so it is not asserted.
  for (const late of lateness) assert.ok(late >= 0, `a run started ${-late} ms before its cron time`);
  // One job per cron second: the run times are whole seconds, each a distinct second.
  const secs = done.map((job) => Number(String(job.id).split(':').pop()));
  for (const ms of secs) assert.equal(ms % 1000, 0, `a run at ${ms} is on a whole second`);
  assert.equal(new Set(secs).size, secs.length, 'no second ran twice');
  assert.ok((await schedules.get(id)).lastRunAt, 'lastRunAt is known once a run has started');
  await schedules.remove(id);
});

test('the time zone is respected: 09:00 in New York is not 09:00 UTC, and BullMQ agrees', async () => {
  const q = uniqueQueue();
  const utc = uniqueId();
  const ny = uniqueId();
  const a = (await schedules.put(utc, { queue: q, name: 'noop', cron: '0 9 * * *' })).schedule;
  const b = (await schedules.put(ny, { queue: q, name: 'noop', cron: '0 9 * * *', tz: 'America/New_York' })).schedule;
  assert.equal(b.tz, 'America/New_York');
  assert.equal(new Date(a.nextRuns[0]!).getUTCHours(), 9);
  assert.ok([13, 14].includes(new Date(b.nextRuns[0]!).getUTCHours()), `New York 09:00 is 13:00 or 14:00 UTC, got ${b.nextRuns[0]}`);
  const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hour12: false });
  for (const run of b.nextRuns) assert.equal(local.format(new Date(run)), '09:00');
  const bull = core.queues.source(q);
  assert.equal((await bull.getJobScheduler(utc))?.next, Date.parse(a.nextRuns[0]!));
  assert.equal((await bull.getJobScheduler(ny))?.next, Date.parse(b.nextRuns[0]!));
  await schedules.remove(utc);
  await schedules.remove(ny);
});

test('pause stops production while another schedule goes on; resume restarts it', async (t) => {
  const q = uniqueQueue();
  const target = uniqueId();
  const other = uniqueId();
  const worker = await startWorker(q);
  t.after(() => worker.stop());
  await schedules.put(target, { queue: q, name: 'noop', cron: '* * * * * *' });
  await schedules.put(other, { queue: q, name: 'noop', cron: '* * * * * *' });
  await waitFor('the target produced a job', async () => (await producedIds(q, target)).length >= 1);

  const paused = await schedules.pause(target);
  assert.equal(paused.paused, true);
  assert.deepEqual(paused.nextRuns, []);
  assert.equal(await core.queues.source(q).getJobScheduler(target), undefined);
  const atPause = new Set(await producedIds(q, target));
  const otherAtPause = (await producedIds(q, other)).length;
  await waitFor('the other schedule produced 2 more jobs', async () => (await producedIds(q, other)).length >= otherAtPause + 2, { timeoutMs: 10_000 });
  const newSincePause = (await producedIds(q, target)).filter((jid) => !atPause.has(jid));
  assert.deepEqual(newSincePause, [], 'a paused schedule produced no job');
  assert.equal((await schedules.pause(target)).paused, true, 'pause is idempotent');

  const resumedAt = Date.now();
  const resumed = await schedules.resume(target);
  assert.equal(resumed.paused, false);
  assert.equal(resumed.nextRuns.length, 5);
  await waitFor('the target runs again after resume', async () => {
    const jobs = await core.queues.source(q).getCompleted();
    return jobs.some((j) => String(j.id).startsWith(`repeat:${target}:`) && !atPause.has(String(j.id)) && j.processedOn! >= resumedAt);
  }, { timeoutMs: 10_000 });
  await schedules.remove(target);
  await schedules.remove(other);
});

test('run now enqueues one job with the schedule name, data and options, also while paused', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  await schedules.put(id, { queue: q, name: 'digest', cron: YEARLY, data: { to: 'ops' }, opts: { attempts: 7, priority: 2 } });
  await schedules.pause(id);
  const r = await schedules.runNow(id);
  assert.equal(r.queue, q);
  assert.equal(r.name, 'digest');
  const job = await core.inspector.getJob(q, r.id);
  assert.equal(job?.state, 'waiting');
  assert.deepEqual(job?.data, { to: 'ops' });
  assert.equal(job?.opts.attempts, 7);
  assert.equal(job?.opts.priority, 2);
  const s = await core.inspector.summary(q);
  assert.equal(s.counts.waiting, 1);
  assert.equal(s.counts.delayed, 0, 'the paused schedule itself made no job');
  await assert.rejects(schedules.runNow(uniqueId()), isCode('SCHEDULE_NOT_FOUND'));
  await schedules.remove(id);
});

test('5 concurrent upserts from separate connections leave exactly one scheduler and one next job', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const others = await Promise.all([0, 1, 2, 3, 4].map(() => openCore(testConfig(redis.url))));
  extraCores.push(...others);
  const peers = others.map((c) => new Schedules(c.queues, c.producer));
  const results = await Promise.all(peers.map((p, i) => p.put(id, { queue: q, name: 'noop', cron: '*/5 * * * *', data: { writer: i } })));
  assert.equal(results.filter((r) => r.created).length, 1, 'exactly one call created it');
  const bull = core.queues.source(q);
  assert.equal(await bull.getJobSchedulersCount(), 1);
  assert.equal(await bull.getDelayedCount(), 1);
  const stored = await schedules.get(id);
  const next = await bull.getJob(scheduledJobId(id, Date.parse(stored.nextRuns[0]!)));
  assert.deepEqual(next?.data, stored.data, 'the next job carries the definition that won');

  // The same race while moving the schedule to five different queues: one queue ends up with it.
  const targets = [0, 1, 2, 3, 4].map(() => uniqueQueue());
  await Promise.all(peers.map((p, i) => p.put(id, { queue: targets[i]!, name: 'noop', cron: '*/5 * * * *' })));
  const winner = (await schedules.get(id)).queue;
  for (const queue of [q, ...targets]) {
    const n = await core.queues.source(queue).getJobSchedulersCount();
    assert.equal(n, queue === winner ? 1 : 0, `schedulers in ${queue === winner ? 'the winning' : 'another'} queue`);
    assert.equal(await core.queues.source(queue).getDelayedCount(), queue === winner ? 1 : 0);
  }
  await schedules.remove(id);
});

test('moving a schedule to another queue removes it from the old one', async () => {
  const [q1, q2] = [uniqueQueue(), uniqueQueue()];
  const id = uniqueId();
  await schedules.put(id, { queue: q1, name: 'noop', cron: YEARLY });
  await schedules.put(id, { queue: q2, name: 'noop', cron: YEARLY });
  assert.equal(await core.queues.source(q1).getJobSchedulersCount(), 0);
  assert.equal(await core.queues.source(q1).getDelayedCount(), 0);
  assert.equal(await core.queues.source(q2).getJobSchedulersCount(), 1);
  assert.equal((await schedules.get(id)).queue, q2);
  await schedules.remove(id);
});

test('repair re-creates a next job deleted by hand, a missing scheduler, and removes a stale one', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const healthy = uniqueId();
  await schedules.put(id, { queue: q, name: 'noop', cron: YEARLY });
  await schedules.put(healthy, { queue: q, name: 'noop', cron: YEARLY });
  const bull = core.queues.source(q);
  const next = (await bull.getJobScheduler(id))!.next!;
  const jobId = scheduledJobId(id, next);

  // Delete the next delayed job by hand: BullMQ would now never run the schedule again.
  await client.zrem(`conveyor:{${q}}:delayed`, jobId);
  await client.del(keys.job(q, jobId));
  assert.equal(await bull.getJobState(jobId), 'unknown');
  const first = await repairSchedules(schedules);
  assert.deepEqual(first.repaired.map((r) => [r.id, r.reason]), [[id, 'next job missing']]);
  assert.equal(await bull.getJobState(jobId), 'delayed', 'the next run is back, at the same time');
  assert.equal(await bull.getDelayedCount(), 2);

  // A scheduler removed behind Conveyor's back comes back too.
  await bull.removeJobScheduler(id);
  const second = await repairSchedules(schedules);
  assert.deepEqual(second.repaired.map((r) => [r.id, r.reason]), [[id, 'scheduler missing']]);
  assert.ok(await bull.getJobScheduler(id));

  // A scheduler left in a queue the schedule moved away from is removed.
  const old = uniqueQueue();
  await core.queues.register(old);
  await core.queues.source(old).upsertJobScheduler(id, { pattern: YEARLY, tz: 'UTC' }, { name: 'noop' });
  const third = await repairSchedules(schedules);
  assert.deepEqual(third.repaired.map((r) => [r.id, r.queue]), [[id, old]]);
  assert.equal(await core.queues.source(old).getJobSchedulersCount(), 0);

  assert.deepEqual((await repairSchedules(schedules)).repaired, [], 'nothing left to repair');
  await schedules.remove(id);
  await schedules.remove(healthy);
});

test('SCHEDULES file: config schedules win, refuse API changes with 409, and leave the file when removed from it', async () => {
  const q = uniqueQueue();
  const [a, b] = [uniqueId(), uniqueId()];
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-schedules-'));
  const file = join(dir, 'schedules.json');
  // b exists first as an API schedule; the file takes it over.
  await schedules.put(b, { queue: q, name: 'old', cron: YEARLY });
  writeFileSync(file, JSON.stringify([
    { id: a, queue: q, name: 'noop', cron: '0 3 * * *', tz: 'Europe/Paris' },
    { id: b, queue: q, name: 'noop', cron: '*/30 * * * *', data: { from: 'file' } },
  ]));
  const applied = await applyScheduleFile(schedules, file);
  assert.deepEqual(applied.applied, [a, b]);
  const viewB = await schedules.get(b);
  assert.equal(viewB.managedBy, 'config');
  assert.deepEqual(viewB.data, { from: 'file' });
  assert.equal((await schedules.get(a)).tz, 'Europe/Paris');

  await assert.rejects(schedules.put(a, { queue: q, name: 'noop', cron: YEARLY }), isCode('SCHEDULE_MANAGED_BY_CONFIG', /SCHEDULES file/));
  await assert.rejects(schedules.remove(a), isCode('SCHEDULE_MANAGED_BY_CONFIG'));
  assert.equal((await schedules.get(a)).cron, '0 3 * * *', 'the refused change changed nothing');

  // Pause is operational: allowed, and kept when the file is applied again; an unchanged re-apply does not touch the next job.
  await schedules.pause(a);
  const nextOfB = (await core.queues.source(q).getJobScheduler(b))!.next;
  const jobsBefore = await core.queues.source(q).getJobs(['delayed']);
  await applyScheduleFile(schedules, file);
  assert.equal((await schedules.get(a)).paused, true);
  assert.equal((await core.queues.source(q).getJobScheduler(b))!.next, nextOfB);
  assert.deepEqual((await core.queues.source(q).getJobs(['delayed'])).map((j) => j.timestamp), jobsBefore.map((j) => j.timestamp));

  // A bad file applies nothing.
  writeFileSync(file, JSON.stringify([{ id: a, queue: q, name: 'noop', cron: '* * * * *' }, { id: b, queue: q, name: 'noop', cron: 'every day' }]));
  await assert.rejects(applyScheduleFile(schedules, file), isCode('CONFIG_INVALID', /entry 1 .*cron: /));
  assert.equal((await schedules.get(a)).cron, '0 3 * * *');
  await assert.rejects(applyScheduleFile(schedules, join(dir, 'missing.json')), isCode('CONFIG_INVALID', /cannot read/));

  // Dropping b from the file deletes it.
  writeFileSync(file, JSON.stringify([{ id: a, queue: q, name: 'noop', cron: '0 3 * * *', tz: 'Europe/Paris' }]));
  const again = await applyScheduleFile(schedules, file);
  assert.ok(again.removed.includes(b));
  await assert.rejects(schedules.get(b), isCode('SCHEDULE_NOT_FOUND'));
  assert.equal(await core.queues.source(q).getJobSchedulersCount(), 0, 'a is paused and b is gone');

  writeFileSync(file, '[]');
  await applyScheduleFile(schedules, file);
  await assert.rejects(schedules.get(a), isCode('SCHEDULE_NOT_FOUND'));
});
