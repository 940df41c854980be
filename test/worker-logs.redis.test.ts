/**
 * Worker log lines: one JSON line per job event with worker id, queue, job
 * id, job name, attempt and duration; at LOG_LEVEL=debug every start and
 * completion, at info only failures; never the payload.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';

let redis: RedisProcess;
let core: Core;
const SECRET = 'alice@example.com-card-4111111111111111';

before(async () => {
  redis = await startRedis();
  core = await openCore(testConfig(redis.url));
});
after(async () => {
  await core?.close();
  await redis?.stop();
});

async function runJobs(level: string) {
  const q = uniqueQueue('logs');
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, LOG_LEVEL: level });
  try {
    await worker.waitForLine('worker started', (j) => j.msg === 'worker started');
    const ok = await core.producer.enqueue(q, { name: 'noop', data: { email: SECRET } });
    const bad = await core.producer.enqueue(q, { name: 'fail', data: { message: 'boom', secret: SECRET }, opts: { attempts: 1 } });
    await worker.waitForLine('the failure', (j) => j.msg === 'job failed for good' && j.jobId === bad.id);
    if (level === 'debug') await worker.waitForLine('the completion', (j) => j.msg === 'job completed' && j.jobId === ok.id);
    return { q, ok, bad, worker };
  } finally {
    await worker.stop();
  }
}

test('LOG_LEVEL=debug: a line per job start and completion, and failures, each with worker, queue, job id, name, attempt, duration; no payload', async () => {
  const { q, ok, bad, worker } = await runJobs('debug');
  const json = worker.lines.map((l) => l.json).filter((j): j is Record<string, any> => j !== undefined);
  const started = json.find((j) => j.msg === 'job started' && j.jobId === ok.id)!;
  const completed = json.find((j) => j.msg === 'job completed' && j.jobId === ok.id)!;
  const failed = json.find((j) => j.msg === 'job failed for good' && j.jobId === bad.id)!;
  for (const [what, line] of [['started', started], ['completed', completed], ['failed', failed]] as const) {
    assert.ok(line, `a "${what}" line`);
    assert.equal(line.queue, q, what);
    assert.match(String(line.worker), /:\d+:[0-9a-f]{6}$/, `${what}: worker id`);
    assert.equal(typeof line.jobName, 'string', what);
    assert.equal(line.attempt, 1, what);
    assert.equal(typeof line.time, 'string', `${what}: timestamp`);
  }
  assert.equal(typeof completed.durationMs, 'number');
  assert.equal(typeof failed.durationMs, 'number');
  assert.equal(failed.err, 'boom');
  assert.ok(!worker.lines.some((l) => l.raw.includes(SECRET)), 'no payload in any log line');
});

test('LOG_LEVEL=info: no line per successful job, failures still logged', async () => {
  const { ok, bad, worker } = await runJobs('info');
  assert.ok(!worker.lines.some((l) => l.json?.jobId === ok.id), 'nothing about the successful job');
  assert.ok(worker.lines.some((l) => l.json?.jobId === bad.id && l.json.level === 40));
  assert.ok(!worker.lines.some((l) => l.raw.includes(SECRET)));
});
