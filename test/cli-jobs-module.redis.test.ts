/**
 * `conveyor worker --jobs MODULE` and `conveyor server --jobs MODULE`, run as
 * the compiled binary (node bin/conveyor.js, dist/) from the module's own
 * folder: the worker runs the module's typed jobs on their queues and checks
 * their data; the server refuses data their schemas refuse (422). A missing
 * file, a module with no jobs, or jobs without handlers for a worker: exit 2
 * with one line naming the file and what was expected.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { listeningUrl, spawnConveyor } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { Conveyor, isConveyorError } from '../shared/index.ts';

// Inside the repository, so the modules resolve its packages (zod); test-artifacts/ is ignored by git.
const root = join(import.meta.dirname, '..');
const artifacts = join(root, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(artifacts, 'jobs-module-'));
const dist = pathToFileURL(join(root, 'dist', 'shared', 'index.js')).href;
const queue = uniqueQueue('mod');

writeFileSync(
  join(dir, 'jobs.mjs'),
  `import { z } from 'zod';
import { defineJob } from ${JSON.stringify(dist)};
export const resize = defineJob({ name: 'resize', queue: ${JSON.stringify(queue)}, schema: z.object({ width: z.number().int().positive() }), defaults: { attempts: 4 } });
export const resizeJob = resize.handle(async (data, ctx) => ({ area: data.width * data.width, attempt: ctx.attempt, cwd: process.cwd() }));
`,
);
writeFileSync(join(dir, 'definitions-only.mjs'), `import { defineJob } from ${JSON.stringify(dist)};\nexport const a = defineJob({ name: 'a' });\n`);
writeFileSync(join(dir, 'nothing.mjs'), `export const answer = 42;\n`);

let redis: RedisProcess;
let conveyor: Conveyor;
before(async () => {
  redis = await startRedis();
  conveyor = await Conveyor.connect({ redisUrl: redis.url, logLevel: 'silent' });
});
after(async () => {
  await conveyor?.close();
  await redis?.stop();
});

test('conveyor worker --jobs runs the module\'s jobs on their queues (no QUEUES needed), from the caller\'s folder', async () => {
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url }, [], { compiled: true, args: ['--jobs', './jobs.mjs'], cwd: dir });
  try {
    const started = await worker.waitForLine('worker started', (j) => j.msg === 'worker started');
    assert.deepEqual(started.queues, [queue]);
    const job = await conveyor.enqueue(queue, { name: 'resize', data: { width: 3 } });
    const result = (await conveyor.waitFor(job, { timeoutMs: 20_000 })) as { area: number; attempt: number; cwd: string };
    assert.equal(result.area, 9);
    assert.equal(result.cwd, dir);
    // The module's definitions are the worker's: data the schema refuses fails at once, no retries.
    const bad = await conveyor.enqueue(queue, { name: 'resize', data: { width: -1 } });
    await assert.rejects(conveyor.waitFor(bad, { timeoutMs: 20_000 }), (e) => isConveyorError(e, 'JOB_FAILED') && e.details?.failureCode === 'PAYLOAD_INVALID');
    assert.equal((await conveyor.getJob(queue, bad.id))?.attemptsMade, 1);
  } finally {
    assert.equal(await worker.stop(), 0);
  }
});

test('conveyor server --jobs validates enqueues against the module\'s schemas and applies their defaults', async () => {
  const server = spawnConveyor('server', { REDIS_URL: redis.url, API_PORT: '0' }, [], { compiled: true, args: ['--jobs', './jobs.mjs'], cwd: dir });
  try {
    const url = await listeningUrl(server);
    const post = (data: unknown) => fetch(`${url}/v1/queues/${queue}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'resize', data }) });
    const refused = await post({ width: 'wide' });
    assert.equal(refused.status, 422);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAYLOAD_INVALID');
    assert.match(body.error.message, /^data\.width: /);
    const ok = await post({ width: 2 });
    assert.equal(ok.status, 201);
    const { id } = (await ok.json()) as { id: string };
    assert.equal((await conveyor.getJob(queue, id))?.opts.attempts, 4, 'the definition\'s defaults');
  } finally {
    await server.stop();
  }
});

test('bad --jobs: exit 2 with one line naming the file and what was expected', async () => {
  const cases: [string[], RegExp][] = [
    [['worker', '--jobs', './missing.mjs'], /--jobs \.\/missing\.mjs: no such file \(resolved to .*missing\.mjs/],
    [['worker', '--jobs', './nothing.mjs'], /--jobs \.\/nothing\.mjs: it exports no job definitions or handlers; export job definitions/],
    [['worker', '--jobs', './definitions-only.mjs'], /--jobs \.\/definitions-only\.mjs: it exports job definitions but no handlers/],
    [['server', '--jobs', './nothing.mjs'], /--jobs \.\/nothing\.mjs: it exports no job definitions or handlers/],
  ];
  for (const [[kind, ...args], message] of cases) {
    const p = spawnConveyor(kind as 'worker' | 'server', { REDIS_URL: redis.url, API_PORT: '0' }, [], { compiled: true, args, cwd: dir });
    const code = await p.exited;
    assert.equal(code, 2, `${kind} ${args.join(' ')}`);
    const stderr = p.lines.filter((l) => !l.json).map((l) => l.raw);
    assert.equal(stderr.length, 1, `one line on stderr: ${stderr.join('\n')}`);
    assert.match(stderr[0]!, new RegExp(`^conveyor ${kind}: INVALID_JOB_DEFINITION: `));
    assert.match(stderr[0]!, message);
  }
});
