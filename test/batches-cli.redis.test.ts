/** `conveyor batches create|add|seal|get|list` against a spawned Redis (the CLI's code in this process). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { runCliCaptured, type CliResult } from './cli-capture.ts';

let redis: RedisProcess;
let dir: string;
before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'conveyor-cli-batches-'));
});
after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliResult> => runCliCaptured({ REDIS_URL: redis.url }, argv);
const file = (name: string, body: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
};

test('create an open batch from a file, add to it, seal it, read it; bad input and a missing batch', async () => {
  const q = uniqueQueue('cli-batch');
  const created = await cli('batches', 'create', '--file', file('b.json', { jobs: [{ queue: q, name: 'noop' }], open: true, description: 'from the cli' }), '--json');
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual([created.json.total, created.json.sealed], [1, false]);
  const id = created.json.id as string;
  const added = await cli('batches', 'add', id, '--file', file('a.json', [{ queue: q, name: 'noop' }, { queue: q, name: 'noop' }]));
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, new RegExp(`added 2 jobs to batch ${id} \\(total 3\\)`));
  const sealed = await cli('batches', 'seal', id);
  assert.equal(sealed.code, 0);
  assert.match(sealed.stdout, /state:\s+running/);
  assert.match(sealed.stdout, /counts:\s+pending 3, failed \(retrying\) 0, succeeded 0, dead 0/);
  const got = await cli('batches', 'get', id, '--json');
  assert.deepEqual([got.json.total, got.json.sealed, got.json.description], [3, true, 'from the cli']);
  const list = await cli('batches', 'list');
  assert.match(list.stdout, new RegExp(`${id}\\s+running\\s+0%\\s+3`));
  const late = await cli('batches', 'add', id, '--file', file('late.json', { jobs: [{ queue: q, name: 'noop' }] }), '--json');
  assert.equal(late.code, 1);
  assert.match(late.stderr + late.stdout, /BATCH_SEALED/);
  const empty = await cli('batches', 'create', '--file', file('e.json', { jobs: [] }));
  assert.equal(empty.code, 2, "bad input is a usage error");
  assert.match(empty.stderr, /jobs: a batch needs at least one job/);
  assert.equal((await cli('batches', 'get', 'no-such-batch')).code, 3);
  assert.equal((await cli('batches', 'create')).code, 2, '--file is required');
});
