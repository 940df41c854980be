import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

let redis: RedisProcess;
let core: Core;
let dir: string;
const procs: ConveyorProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  dir = mkdtempSync(join(tmpdir(), 'conveyor-sched-'));
});
after(async () => {
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL')));
  await closeRedisAndCore(redis, core);
  rmSync(dir, { recursive: true, force: true });
});

test('a worker applies the SCHEDULES file at start and its every-second schedule produces jobs that complete', async () => {
  const queue = uniqueQueue('sched');
  const file = join(dir, 'schedules.json');
  writeFileSync(file, JSON.stringify([{ id: `tick-${queue}`, queue, name: 'noop', cron: '* * * * * *' }]));
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: queue, SCHEDULES: file });
  procs.push(worker);
  await worker.waitForLine('SCHEDULES file applied', (j) => j.msg === 'SCHEDULES file applied');
  const completed = await waitFor('two scheduled jobs completed', async () => {
    const page = await core.inspector.listJobs(queue, 'completed', 0, 10);
    return page.total >= 2 ? page : undefined;
  }, { timeoutMs: 8000 });
  assert.ok(completed.jobs.every((j) => j.name === 'noop'));
  assert.equal(await worker.stop('SIGTERM'), 0);
});
