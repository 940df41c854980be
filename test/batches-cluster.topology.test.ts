/**
 * Batches and workflows on Redis Cluster (3 masters): a batch, its callback
 * on a queue of another shard, a dead job replayed into it, an open batch's
 * add and seal, and a workflow — each on one queue's hash slot, with no
 * CROSSSLOT error; a batch or workflow spanning two queues is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../shared/testing/redis-cluster.ts';
import { openCore, testConfig } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { isConveyorError } from '../shared/errors.ts';
import { stepResults } from '../shared/workflows/context.ts';

test('Redis Cluster: batches, a callback on another shard, a replayed dead job, an open batch and a workflow', async (t) => {
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  let host: WorkerHost | undefined;
  let core: Awaited<ReturnType<typeof openCore>> | undefined;
  // One hook, in order: the worker, then the Conveyor, then the cluster (hooks run in the order they were added).
  t.after(async () => {
    await host?.stop();
    await core?.close();
    await cluster.stop();
  });
  const [q, cbq] = await cluster.queuesOnEveryShard(1);
  assert.notEqual(await cluster.masterOfQueue(q!), await cluster.masterOfQueue(cbq!), 'the callback queue is on another shard');
  const config = testConfig(cluster.url);
  core = await openCore(config);
  let broken = true;
  const calls: { event: string; counts: Record<string, number> }[] = [];
  host = new WorkerHost({
    config,
    queues: [q!, cbq!],
    logger: silentLogger,
    handlers: {
      work: (d: { fail?: boolean }) => {
        if (d?.fail && broken) throw new Error('broken for now');
        return 1;
      },
      done: (d: { event: string; counts: Record<string, number> }) => void calls.push(d),
      add: async (_d: unknown, ctx) => Object.values(await stepResults(ctx)).reduce<number>((a, v) => a + (v as number), 1),
    },
  });
  await host.start();
  const c = core.conveyor;

  const b = await c.batches.create({
    jobs: [...Array.from({ length: 5 }, () => ({ queue: q!, name: 'work' })), { queue: q!, name: 'work', data: { fail: true }, opts: { attempts: 1 } }],
    onComplete: { queue: cbq!, name: 'done' },
    onSuccess: { queue: cbq!, name: 'done' },
  });
  await waitFor('onComplete', () => calls.some((x) => x.event === 'complete'), { timeoutMs: 20_000 });
  assert.deepEqual(calls.find((x) => x.event === 'complete')?.counts, { total: 6, pending: 0, failed: 0, succeeded: 5, dead: 1 });
  await waitFor('the dead letter', () => c.deadLetters.get(q!, b.ids[5]!));
  broken = false;
  await c.deadLetters.replay(q!, b.ids[5]!);
  await waitFor('onSuccess after the replay', () => calls.some((x) => x.event === 'success'), { timeoutMs: 20_000 });

  const open = await c.batches.create({ jobs: [{ queue: q!, name: 'work' }], open: true });
  assert.equal((await c.batches.add(open.id, [{ queue: q!, name: 'work' }])).total, 2);
  await c.batches.seal(open.id);
  await waitFor('the open batch succeeded', async () => (await c.batches.get(open.id)).state === 'succeeded', { timeoutMs: 20_000 });

  const at = { queue: q!, name: 'add' };
  const wf = await c.workflows.create({ steps: { a: at, b: { ...at, after: ['a'] }, c: { ...at, after: ['a'] }, d: { ...at, after: ['b', 'c'] } } });
  await waitFor('the workflow succeeded', async () => (await c.workflows.get(wf.id)).state === 'succeeded', { timeoutMs: 20_000 });
  assert.equal((await c.getJob(q!, wf.steps.d!))?.returnValue, 5);

  await assert.rejects(c.batches.create({ jobs: [{ queue: q!, name: 'work' }, { queue: cbq!, name: 'work' }] }), (e) => isConveyorError(e, 'INVALID_REQUEST') && /on Redis Cluster a batch's jobs share one queue/.test(e.message));
  await assert.rejects(c.workflows.create({ steps: { a: { queue: q!, name: 'work' }, b: { queue: cbq!, name: 'work', after: ['a'] } } }), (e) => isConveyorError(e, 'INVALID_REQUEST'));
});
