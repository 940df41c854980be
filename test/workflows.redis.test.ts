/**
 * Workflows on BullMQ flows, against a real redis-server with an in-process
 * worker: a diamond (a, then b and c in parallel, then d with both results),
 * a failed step cancelling the steps after it, an optional step whose failure
 * lets them run, the workflow's callbacks and step states, typed steps, and
 * bad graphs (a cycle, an unknown step, a step depending on itself) refused
 * with WORKFLOW_INVALID naming the step, nothing written.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { closeRedisAndCore, redisAndCore, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import type { Conveyor } from '../shared/conveyor.ts';
import { defineJob } from '../shared/jobs/define-job.ts';
import { isConveyorError } from '../shared/errors.ts';
import { batchKeys } from '../shared/batches/keys.ts';
import { stepFailures, stepOf, stepResults } from '../shared/workflows/context.ts';
import { checkGraph } from '../shared/workflows/graph.ts';
import type { JobContext } from '../shared/runtime/handler.ts';

let redis: RedisProcess;
let core: Core;
let conveyor: Conveyor;
const workers: ConveyorWorker[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  conveyor = core.conveyor;
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await closeRedisAndCore(redis, core);
});

/** Runs by step name, with what each step saw of the steps before it. */
const seen = new Map<string, { results: Record<string, unknown>; failures: Record<string, string> }[]>();
let barrier: { arrived: number; open: () => void; opened: Promise<void> } | undefined;

async function startWorker(queue: string): Promise<void> {
  const w = createWorker({
    conveyor,
    queues: [queue],
    concurrency: 10,
    metrics: false,
    handlers: {
      step: async (d: { value?: number; fail?: boolean; meet?: boolean }, ctx: JobContext) => {
        const results = await stepResults(ctx);
        const failures = await stepFailures(ctx);
        const name = stepOf(ctx)!;
        seen.set(name, [...(seen.get(name) ?? []), { results, failures }]);
        if (d?.meet && barrier) {
          // b and c each wait here until both are running: they can only finish if they run in parallel.
          if (++barrier.arrived === 2) barrier.open();
          await barrier.opened;
        }
        if (d?.fail) throw new Error(`${name} broke`);
        const sum = Object.values(results).reduce<number>((a, v) => a + (typeof v === 'number' ? v : 0), 0);
        return (d?.value ?? 0) + sum;
      },
      done: () => 'noted',
    },
  });
  workers.push(w);
  await w.start();
}

const at = (q: string, data: Record<string, unknown> = {}) => ({ queue: q, name: 'step', data, opts: { attempts: 1 } });

test('a diamond: a, then b and c in parallel, then d with both results; the workflow succeeds once', async () => {
  const q = uniqueQueue('wf-diamond');
  seen.clear();
  let open: () => void = () => {};
  barrier = { arrived: 0, open: () => open(), opened: new Promise<void>((r) => (open = r)) };
  await startWorker(q);
  const wf = await conveyor.workflows.create({
    steps: {
      a: at(q, { value: 1 }),
      b: { ...at(q, { value: 10, meet: true }), after: ['a'] },
      c: { ...at(q, { value: 100, meet: true }), after: ['a'] },
      d: { ...at(q, { value: 1000 }), after: ['b', 'c'] },
    },
    onSuccess: { queue: q, name: 'done' },
    description: 'diamond',
  });
  assert.deepEqual(Object.keys(wf.steps).sort(), ['a', 'b', 'c', 'd']);
  await waitFor('the workflow succeeded', async () => (await conveyor.workflows.get(wf.id)).callbacks.onSuccess?.enqueuedAt, { timeoutMs: 15_000 });
  assert.deepEqual(seen.get('b')?.[0]?.results, { a: 1 });
  assert.deepEqual(seen.get('c')?.[0]?.results, { a: 1 });
  assert.deepEqual(seen.get('d')?.[0]?.results, { b: 11, c: 101 }, 'd reads both results');
  assert.deepEqual((await conveyor.getJob(q, wf.steps.d!))?.returnValue, 1112);
  const v = await conveyor.workflows.get(wf.id);
  assert.deepEqual(Object.fromEntries(Object.entries(v.steps).map(([n, s]) => [n, s.state])), { a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'succeeded' });
  assert.deepEqual(v.order, ['a', 'b', 'c', 'd']);
  assert.deepEqual([v.state, v.total, v.succeeded, v.dead, v.description], ['succeeded', 4, 4, 0, 'diamond']);
  assert.deepEqual(v.steps.d?.after, ['b', 'c']);
  for (const n of ['a', 'b', 'c', 'd']) assert.equal(seen.get(n)?.length, 1, `${n} ran once`);
  // A workflow is a batch: its counts read the same way.
  assert.equal((await conveyor.batches.get(wf.id)).succeeded, 4);
});

test('a failed step cancels the steps after it (they never run); the workflow completes with them dead', async () => {
  const q = uniqueQueue('wf-cancel');
  seen.clear();
  barrier = undefined;
  await startWorker(q);
  const wf = await conveyor.workflows.create({
    steps: {
      a: at(q, { value: 1 }),
      b: { ...at(q, { fail: true }), after: ['a'] },
      c: { ...at(q, { value: 5 }), after: ['b'] },
      d: { ...at(q), after: ['c', 'a'] },
      e: { ...at(q, { value: 2 }), after: ['a'] },
    },
    onComplete: { queue: q, name: 'done' },
    onSuccess: { queue: q, name: 'done' },
  });
  const v = await waitFor('the workflow completed', async () => {
    const x = await conveyor.workflows.get(wf.id);
    return x.callbacks.onComplete?.enqueuedAt ? x : undefined;
  }, { timeoutMs: 15_000 });
  assert.deepEqual(Object.fromEntries(Object.entries(v.steps).map(([n, s]) => [n, s.state])), { a: 'succeeded', b: 'dead', e: 'succeeded', c: 'cancelled', d: 'cancelled' });
  assert.match(v.steps.b!.error!, /b broke/);
  assert.equal(v.steps.c!.error, 'a step it runs after failed');
  assert.deepEqual([v.state, v.succeeded, v.dead, v.pending], ['completed', 2, 3, 0]);
  assert.equal(seen.get('c'), undefined, 'c never ran');
  assert.equal(seen.get('d'), undefined, 'd never ran');
  assert.equal(v.callbacks.onSuccess?.firedAt, null);

  // The dead letter of a cancelled step, replayed as any dead letter is (API, CLI, board): the workflow
  // replays it from the step that failed, so b, c and d run again, in order, and the workflow succeeds.
  await waitFor('the dead letters', async () => (await Promise.all(['b', 'c', 'd'].map((n) => conveyor.deadLetters.get(q, wf.steps[n]!)))).every(Boolean));
  await conveyor.deadLetters.replay(q, wf.steps.d!);
  await waitFor('b failed again (it is still broken)', async () => (await conveyor.workflows.get(wf.id)).steps.d?.state === 'cancelled' && (seen.get('b')?.length ?? 0) === 2, { timeoutMs: 15_000 });
  assert.equal(seen.get('c'), undefined, 'still cancelled: c did not run');
});

test('replaying a failed step runs it again with every step it cancelled; the workflow then succeeds', async () => {
  const q = uniqueQueue('wf-replay');
  seen.clear();
  const broken = new Set(['b']);
  const w = createWorker({
    conveyor,
    queues: [q],
    metrics: false,
    handlers: {
      step: async (d: { value?: number }, ctx: JobContext) => {
        const name = stepOf(ctx)!;
        const results = await stepResults(ctx);
        seen.set(name, [...(seen.get(name) ?? []), { results, failures: {} }]);
        if (broken.has(name)) throw new Error(`${name} broke`);
        return (d?.value ?? 0) + Object.values(results).reduce<number>((a, v) => a + (v as number), 0);
      },
      done: () => 'noted',
    },
  });
  workers.push(w);
  await w.start();
  const wf = await conveyor.workflows.create({
    steps: { a: at(q, { value: 1 }), b: { ...at(q, { value: 10 }), after: ['a'] }, c: { ...at(q, { value: 100 }), after: ['b'] }, d: { ...at(q, { value: 1000 }), after: ['a', 'c'] } },
    onComplete: { queue: q, name: 'done' },
    onSuccess: { queue: q, name: 'done' },
  });
  await waitFor('completed with b dead', async () => (await conveyor.workflows.get(wf.id)).callbacks.onComplete?.enqueuedAt, { timeoutMs: 15_000 });
  await waitFor('the dead letters', async () => (await Promise.all(['b', 'c', 'd'].map((n) => conveyor.deadLetters.get(q, wf.steps[n]!)))).every(Boolean));
  await assert.rejects(conveyor.workflows.replay(wf.id, 'a'), (e) => isConveyorError(e, 'INVALID_REQUEST') && /succeeded/.test(e.message));
  broken.clear();
  assert.deepEqual(await conveyor.workflows.replay(wf.id, 'b'), ['b', 'c', 'd']);
  const v = await waitFor('succeeded after the replay', async () => {
    const x = await conveyor.workflows.get(wf.id);
    return x.callbacks.onSuccess?.enqueuedAt ? x : undefined;
  }, { timeoutMs: 15_000 });
  assert.deepEqual(Object.fromEntries(Object.entries(v.steps).map(([n, s]) => [n, s.state])), { a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'succeeded' });
  assert.deepEqual(seen.get('d')?.at(-1)?.results, { a: 1, c: 111 }, 'd got a\'s result (from before the replay) and c\'s');
  assert.equal((await conveyor.getJob(q, wf.steps.d!))?.returnValue, 1112);
  assert.equal(seen.get('a')?.length, 1, 'a did not run again');
  assert.equal(await conveyor.deadLetters.get(q, wf.steps.b!), undefined, 'its dead letter is gone');
  await w.stop();
  workers.splice(workers.indexOf(w), 1);
});

test('an optional step that fails: the steps after it run anyway and see its error', async () => {
  const q = uniqueQueue('wf-optional');
  seen.clear();
  await startWorker(q);
  const wf = await conveyor.workflows.create({
    steps: {
      fetch: at(q, { value: 3 }),
      enrich: { ...at(q, { fail: true }), after: ['fetch'], optional: true },
      report: { ...at(q, { value: 1 }), after: ['fetch', 'enrich'] },
    },
  });
  await waitFor('report ran', () => seen.get('report'), { timeoutMs: 15_000 });
  assert.deepEqual(seen.get('report')?.[0]?.results, { fetch: 3 });
  assert.match(seen.get('report')?.[0]?.failures.enrich ?? '', /enrich broke/);
  const v = await waitFor('finished', async () => {
    const x = await conveyor.workflows.get(wf.id);
    return x.state === 'completed' ? x : undefined;
  });
  assert.deepEqual(Object.fromEntries(Object.entries(v.steps).map(([n, s]) => [n, s.state])), { fetch: 'succeeded', enrich: 'dead', report: 'succeeded' });
});

test('typed steps: definitions give queue, name and defaults, data is checked; a step\'s after names only steps (compile time)', async () => {
  const q = uniqueQueue('wf-typed');
  const load = defineJob({ name: 'wf-load', queue: q, schema: z.object({ url: z.string() }), defaults: { attempts: 2 } });
  const w = createWorker({ conveyor, jobs: [load.handle(async (d) => d.url.length)], metrics: false });
  workers.push(w);
  await w.start();
  const wf = await conveyor.workflows.create({ steps: { one: { job: load, data: { url: 'abc' } }, two: { job: load, data: { url: 'de' }, after: ['one'] } } });
  await waitFor('both ran', async () => (await conveyor.workflows.get(wf.id)).state === 'succeeded');
  assert.equal((await conveyor.getJob(q, wf.steps.two!))?.opts.attempts, 2);
  await assert.rejects(
    conveyor.workflows.create({ steps: { one: { job: load, data: { url: 1 as unknown as string } } } }),
    (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^steps\.one\.data\.url/.test(e.message),
  );
});

test('bad graphs are WORKFLOW_INVALID naming the step, and nothing is written', async () => {
  const q = uniqueQueue('wf-bad');
  const written = async () => [...(await core.conn.keys(`*{${q}}*`)), await core.conn.zcard(batchKeys.index)];
  const before = await written();
  const refuse = async (spec: unknown, code: string, message: RegExp, step?: string) => {
    await assert.rejects(conveyor.workflows.create(spec as never), (e) => {
      if (!isConveyorError(e) || e.code !== code || !message.test(e.message)) return false;
      if (step !== undefined) assert.equal(e.details?.step, step);
      return true;
    }, `${code} ${message}`);
    assert.deepEqual(await written(), before, `nothing written (${message})`);
  };
  await refuse({ steps: { a: { ...at(q), after: ['b'] }, b: { ...at(q), after: ['a'] } } }, 'WORKFLOW_INVALID', /the steps (a → b → a|b → a → b) form a cycle/);
  await refuse({ steps: { a: at(q), b: { ...at(q), after: ['a', 'c'] }, c: { ...at(q), after: ['d'] }, d: { ...at(q), after: ['b'] } } }, 'WORKFLOW_INVALID', /form a cycle/);
  await refuse({ steps: { a: at(q), d: { ...at(q), after: ['a', 'ghost'] } } }, 'WORKFLOW_INVALID', /^steps\.d\.after: "ghost" is not a step of this workflow/, 'd');
  await refuse({ steps: { a: { ...at(q), after: ['a'] } } }, 'WORKFLOW_INVALID', /^steps\.a\.after: the step depends on itself/, 'a');
  await refuse({ steps: { a: at(q), b: { ...at(q), after: ['a', 'a'] } } }, 'WORKFLOW_INVALID', /"a" is named twice/, 'b');
  await refuse({ steps: {} }, 'WORKFLOW_INVALID', /a workflow needs at least one step/);
  await refuse({ steps: { 'bad name!': at(q) } }, 'WORKFLOW_INVALID', /step name "bad name!" is invalid/);
  await refuse({ steps: { a: { ...at(q), opts: { attempts: 0 } } } }, 'INVALID_REQUEST', /^steps\.a\.opts\.attempts/);
  await refuse({ steps: { a: { ...at(q), after: 'b' } } }, 'INVALID_REQUEST', /^steps\.a: after/);
  await assert.rejects(conveyor.workflows.get('no-such-workflow'), (e) => isConveyorError(e, 'BATCH_NOT_FOUND'));
});

test('the graph check: an order where each step comes after its dependencies, and the cycle named in execution order', () => {
  const g = checkGraph([{ name: 'd', after: ['b', 'c'] }, { name: 'c', after: ['a'] }, { name: 'b', after: ['a'] }, { name: 'a', after: [] }]);
  assert.deepEqual(g.order, ['a', 'c', 'b', 'd']);
  assert.throws(() => checkGraph([{ name: 'x', after: [] }, { name: 'a', after: ['c'] }, { name: 'b', after: ['a'] }, { name: 'c', after: ['b'] }]), (e) => isConveyorError(e, 'WORKFLOW_INVALID') && /the steps (a → b → c → a|b → c → a → b|c → a → b → c) form a cycle/.test(e.message));
});

/** Compile-time checks of the typed API (never called). */
export async function typedWorkflows(c: Conveyor): Promise<void> {
  const a = defineJob({ name: 'wta', schema: z.object({ n: z.number() }) });
  await c.workflows.create({ steps: { x: { job: a, data: { n: 1 } }, y: { job: a, data: { n: 2 }, after: ['x'] }, z: { name: 'plain', after: ['x', 'y'] } } });
  // @ts-expect-error "w" is not a step of this workflow
  await c.workflows.create({ steps: { x: { job: a, data: { n: 1 } }, y: { job: a, data: { n: 2 }, after: ['w'] } } });
  // @ts-expect-error n must be a number
  await c.workflows.create({ steps: { x: { job: a, data: { n: 'one' } } } });
}
