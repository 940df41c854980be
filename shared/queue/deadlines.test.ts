import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deadlines, type Deadline } from './deadlines.ts';

const expiredError = () => new Error('expired');

test('an operation that settles in time gives its value or its error', async () => {
  const d = new Deadlines(10);
  assert.equal(await d.run(1000, expiredError, async () => 42), 42);
  await assert.rejects(d.run(1000, expiredError, async () => Promise.reject(new Error('own'))), /own/);
});

test('an operation past its deadline fails with onExpire() within the resolution, and sees that it expired', async () => {
  const d = new Deadlines(10);
  let seen: Deadline | undefined;
  let release!: () => void;
  const t0 = performance.now();
  const p = d.run(50, expiredError, (deadline) => {
    seen = deadline;
    return new Promise<void>((r) => (release = r));
  });
  await assert.rejects(p, /expired/);
  const ms = performance.now() - t0;
  assert.ok(ms >= 49 && ms < 1000, `failed after ${ms} ms`);
  assert.equal(seen?.expired, true);
  release();
});

test('deadlines of different lengths each fail on their own time', async () => {
  const d = new Deadlines(10);
  const never = () => new Promise<never>(() => {});
  const order: string[] = [];
  await Promise.all([
    d.run(150, () => new Error('long'), never).catch(() => order.push('long')),
    d.run(30, () => new Error('short'), never).catch(() => order.push('short')),
  ]);
  assert.deepEqual(order, ['short', 'long']);
});
