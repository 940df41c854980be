/** Job search: by id across queues, by name, by data or error substring, bounded with a cursor. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { JobSearch } from '../shared/queue/search.ts';

let redis: RedisProcess;
let core: Core;
let search: JobSearch;

before(async () => {
  ({ redis, core } = await redisAndCore());
  search = new JobSearch(core.queues, core.inspector);
});
after(async () => {
  await closeRedisAndCore(redis, core);
});

test('by id: the same id in two queues is found in both, in whatever state', async () => {
  const a = uniqueQueue('ida');
  const b = uniqueQueue('idb');
  await core.producer.enqueue(a, { name: 'noop', opts: { jobId: 'order-77' } });
  await core.producer.enqueue(b, { name: 'noop', opts: { jobId: 'order-77', delay: 60_000 } });
  const hits = await search.byId('order-77');
  const mine = hits.filter((h) => h.queue === a || h.queue === b).map((h) => `${h.queue}:${h.state}`).sort();
  assert.deepEqual(mine, [`${a}:waiting`, `${b}:delayed`].sort());
  assert.deepEqual(await search.byId('no-such-id'), []);
  assert.deepEqual(await search.byId('meta'), [], 'a BullMQ key name is not a job');
});

test('by name and by a substring of data, case-insensitive, in waiting, completed and dead jobs', async () => {
  const q = uniqueQueue('text');
  await core.producer.enqueue(q, { name: 'send-invoice', data: { customer: 'ACME-4411', total: 12 } });
  await core.producer.enqueue(q, { name: 'send-receipt', data: { customer: 'globex' } });
  const host = new WorkerHost({
    config: testConfig(redis.url),
    handlers: { charge: (d: { card: string }) => { if (d.card === 'bad') throw new Error('card rejected by processor Zeta'); return { ok: true }; } },
    logger: silentLogger,
    queues: [q],
  });
  await host.start();
  let dead: { id: string };
  try {
    await core.producer.enqueue(q, { name: 'charge', data: { card: 'good', ref: 'acme-4411-charge' } });
    dead = await core.producer.enqueue(q, { name: 'charge', data: { card: 'bad', ref: 'r-2' }, opts: { attempts: 1 } });
    await waitFor('the bad charge dead', async () => (await core.inspector.deadLetters.get(q, dead.id)) !== undefined);
    await waitFor('the good charge done', async () => (await core.inspector.listJobs(q, 'completed')).total === 1);
  } finally {
    await host.stop();
  }
  // The send-* jobs met a worker without their handler: they now wait for a retry (delayed), still searchable.
  const byData = await search.scan('text', 'acme-4411', { queue: q });
  assert.deepEqual(byData.hits.map((h) => h.match).sort(), ['data', 'data']);
  assert.ok(byData.hits.some((h) => h.name === 'charge' && h.state === 'completed'));
  assert.ok(byData.hits.some((h) => h.name === 'send-invoice'));
  assert.match(byData.hits[0]!.snippet!, /acme-4411/i);
  assert.equal(byData.cursor, undefined, 'the whole queue was searched');

  const byError = await search.scan('text', 'processor zeta', { queue: q });
  assert.equal(byError.hits.length, 1);
  assert.equal(byError.hits[0]!.state, 'dead');
  assert.equal(byError.hits[0]!.match, 'error');

  const deadData = await search.scan('text', '"r-2"', { queue: q });
  assert.equal(deadData.hits.length, 1, 'a dead letter is searched by its original data');
  assert.equal(deadData.hits[0]!.id, dead.id);

  const byName = await search.scan('name', 'SEND-', { queue: q });
  assert.deepEqual(byName.hits.map((h) => h.name).sort(), ['send-invoice', 'send-receipt']);
});

test('a text search examines at most its budget and goes on from its cursor until every job was seen', async () => {
  const q = uniqueQueue('budget');
  await core.producer.enqueueBulk(q, Array.from({ length: 25 }, (_, i) => ({ name: 'noop', data: { n: i, tag: i % 5 === 0 ? 'needle' : 'hay' } })));
  const seen = new Set<string>();
  let cursor: string | undefined;
  let passes = 0;
  let examined = 0;
  do {
    const p = await search.scan('text', 'needle', { queue: q, budget: 10, cursor });
    assert.ok(p.scanned <= 10, `examined ${p.scanned} (budget 10)`);
    assert.equal(p.total, 25);
    examined += p.scanned;
    for (const h of p.hits) seen.add(h.id);
    cursor = p.cursor;
    passes++;
  } while (cursor && passes < 10);
  assert.equal(examined, 25);
  assert.equal(passes, 3);
  assert.equal(seen.size, 5);
});
