/**
 * Dead letters across queues: error fingerprints, newest-first paging over
 * several queues, dry-run counts, and bulk replay / drop that touch exactly
 * the selected jobs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { DeadLetterGroups, errorPattern, fingerprint, refKey, type DeadRef } from '../shared/queue/dead-letter-groups.ts';

let redis: RedisProcess;
let core: Core;
let groups: DeadLetterGroups;

before(async () => {
  ({ redis, core } = await redisAndCore());
  groups = new DeadLetterGroups(core.queues);
});
after(async () => {
  await closeRedisAndCore(redis, core);
});

/** Runs jobs that throw `data.msg` once (attempts 1) until each is a dead letter; returns their refs in the order they died. */
async function makeDead(queue: string, messages: string[]): Promise<DeadRef[]> {
  const host = new WorkerHost({ config: testConfig(redis.url, { CONCURRENCY: '1' }), handlers: { boom: (d: { msg: string }) => { throw new Error(d.msg); } }, logger: silentLogger, queues: [queue] });
  const refs: DeadRef[] = [];
  await host.start();
  try {
    for (const msg of messages) {
      const { id } = await core.producer.enqueue(queue, { name: 'boom', data: { msg }, opts: { attempts: 1 } });
      await waitFor(`${id} dead`, async () => (await core.inspector.deadLetters.get(queue, id)) !== undefined);
      refs.push({ queue, id });
      // deadAt has millisecond resolution: keep the order unambiguous
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await host.stop();
  }
  return refs;
}

test('error patterns ignore numbers, ids and times, so one cause is one group', () => {
  assert.equal(errorPattern('card declined: code 154 at 2025-01-02T03:04:05.678Z'), 'card declined: code <n> at <time>');
  assert.equal(fingerprint('timeout after 3000 ms for job 9f1c2d3e-0000-4000-8000-123456789abc'), fingerprint('timeout after 12 ms for job 00000000-1111-4222-8333-444444444444'));
  assert.notEqual(fingerprint('SMTP 550 mailbox unavailable'), fingerprint('SMTP 421 try later, connection refused'.replace('connection refused', 'other')));
  assert.equal(errorPattern(''), '(no error message)');
  assert.equal(errorPattern('first line\n    at stack (file.ts:1:2)'), 'first line');
});

test('dead letters of several queues come newest first, grouped by fingerprint with counts per queue', async () => {
  const a = uniqueQueue('dla');
  const b = uniqueQueue('dlb');
  const first = await makeDead(a, ['SMTP 550 for user1', 'SMTP 550 for user2']);
  const second = await makeDead(b, ['card declined: code 7', 'SMTP 550 for user3']);
  const third = await makeDead(a, ['card declined: code 9']);
  const scan = await groups.scan();
  const mine = scan.letters.filter((d) => d.queue === a || d.queue === b).map((d) => refKey(d));
  assert.deepEqual(mine, [...first, ...second, ...third].reverse().map(refKey), 'newest first across both queues');
  const smtp = scan.groups.find((g) => g.fingerprint === fingerprint('SMTP 550 for user1'))!;
  assert.equal(smtp.count, 3);
  assert.deepEqual(smtp.byQueue, { [a]: 2, [b]: 1 });
  assert.equal(smtp.pattern, 'SMTP <n> for user<n>');
  const card = scan.groups.find((g) => g.fingerprint === fingerprint('card declined: code 1'))!;
  assert.deepEqual(card.byQueue, { [a]: 1, [b]: 1 });

  const onlyCard = await groups.scan({ group: card.fingerprint });
  assert.deepEqual(onlyCard.letters.map(refKey), [third[0]!, second[0]!].map(refKey));
  const onlyB = await groups.scan({ queue: b });
  assert.equal(onlyB.totalDead, 2);
  assert.ok(onlyB.letters.every((d) => d.queue === b));
});

test('the scan stops at maxScan and says so', async () => {
  const q = uniqueQueue('bound');
  await makeDead(q, ['e1', 'e2', 'e3', 'e4']);
  const scan = await groups.scan({ queue: q, maxScan: 3 });
  assert.equal(scan.scanned, 3);
  assert.equal(scan.totalDead, 4);
  assert.equal(scan.truncated, true);
});

test('bulk replay moves exactly the selected dead letters back to their queues; the dry run counted them first', async () => {
  const a = uniqueQueue('rpa');
  const b = uniqueQueue('rpb');
  const deadA = await makeDead(a, ['x 1', 'x 2', 'x 3', 'x 4']);
  const deadB = await makeDead(b, ['y 1', 'y 2']);
  const chosen = [deadA[1]!, deadA[3]!, deadB[0]!];
  const gone = { queue: a, id: 'no-such-job' };

  const plan = await groups.plan({ kind: 'ids', refs: [...chosen, gone] });
  assert.equal(plan.total, 3);
  assert.equal(plan.missing, 1);
  assert.deepEqual(plan.byQueue, { [a]: 2, [b]: 1 });
  assert.equal(await core.inspector.deadLetters.count(a), 4, 'a dry run changes nothing');

  const refs = await groups.resolve({ kind: 'ids', refs: [...chosen, gone] });
  const r = await groups.replay(refs);
  assert.deepEqual(r.done.map(refKey).sort(), chosen.map(refKey).sort());
  assert.equal(await core.inspector.deadLetters.count(a), 2);
  assert.equal(await core.inspector.deadLetters.count(b), 1);
  for (const c of chosen) {
    const job = await core.inspector.getJob(c.queue, c.id);
    assert.equal(job?.state, 'waiting', `${refKey(c)} is back in its queue`);
    assert.equal(job?.name, 'boom');
  }
  for (const other of [deadA[0]!, deadA[2]!, deadB[1]!]) {
    assert.equal((await core.inspector.getJob(other.queue, other.id))?.state, 'dead', `${refKey(other)} was not selected and stays dead`);
  }
  // A second replay of the same selection finds them gone: counted, not thrown.
  const again = await groups.replay(chosen);
  assert.equal(again.done.length, 0);
  assert.equal(again.missing.length, 3);
});

test('drop by group removes every dead letter of that group in the queue and nothing else', async () => {
  const q = uniqueQueue('drop');
  await makeDead(q, ['gateway 502 from upstream 10.0.0.1', 'gateway 502 from upstream 10.0.0.2', 'bad input: field x']);
  const fp = fingerprint('gateway 502 from upstream 10.0.0.9');
  const plan = await groups.plan({ kind: 'group', fingerprint: fp, queue: q });
  assert.equal(plan.total, 2);
  const r = await groups.drop(await groups.resolve({ kind: 'group', fingerprint: fp, queue: q }));
  assert.equal(r.done.length, 2);
  const left = await groups.scan({ queue: q });
  assert.deepEqual(left.letters.map((d) => d.failedReason), ['bad input: field x']);
});
