import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translateItem, splitScheduleItem } from './foreign-payload.ts';

test('a Resque payload becomes job "class" with data {args, resque: rest} and needs an id', () => {
  const t = translateItem('{"class":"SendEmail","args":[1,"a"],"extra":true}', 'resque:queue:mail');
  assert.ok(t.ok);
  assert.deepEqual(t.job, { queue: 'mail', name: 'SendEmail', data: { args: [1, 'a'], resque: { extra: true } }, opts: {}, needsId: true });
});

test('a Sidekiq payload keeps its jid as the job id and maps retry n to n + 1 attempts', () => {
  const t = translateItem('{"class":"HardWorker","args":["x"],"jid":"b4a577edbccf1d805744efa9","retry":5,"queue":"default","created_at":1.5}', 'queue:default');
  assert.ok(t.ok);
  assert.equal(t.job.name, 'HardWorker');
  assert.equal(t.job.opts.jobId, 'b4a577edbccf1d805744efa9');
  assert.equal(t.job.opts.attempts, 6);
  assert.equal(t.job.needsId, false);
  assert.deepEqual(t.job.data, { args: ['x'], sidekiq: { jid: 'b4a577edbccf1d805744efa9', retry: 5, queue: 'default', created_at: 1.5 } });
});

test('Sidekiq retry false is one attempt; retry true leaves Conveyor\'s default', () => {
  const no = translateItem('{"class":"A","args":[],"jid":"j1x","retry":false}', 'queue:q');
  const yes = translateItem('{"class":"A","args":[],"jid":"j2x","retry":true}', 'queue:q');
  assert.ok(no.ok && yes.ok);
  assert.equal(no.job.opts.attempts, 1);
  assert.equal(yes.job.opts.attempts, undefined);
});

test('a jid that is not a usable Conveyor id gets a stable derived id', () => {
  const a = translateItem('{"class":"A","args":[],"jid":"12345"}', 'queue:q');
  const b = translateItem('{"class":"A","args":[],"jid":"12345"}', 'queue:q');
  assert.ok(a.ok && b.ok);
  assert.match(a.job.opts.jobId!, /^sidekiq-[0-9a-f]{40}$/);
  assert.equal(a.job.opts.jobId, b.job.opts.jobId);
});

test('ActiveJob payloads through Sidekiq are named by the wrapped class', () => {
  const t = translateItem('{"class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"WelcomeMailerJob","args":[{"job_class":"WelcomeMailerJob"}],"jid":"abcabcabc"}', 'queue:mailers');
  assert.ok(t.ok);
  assert.equal(t.job.name, 'WelcomeMailerJob');
});

test('a scheduled Sidekiq item takes its queue from the payload and its delay from the score', () => {
  const now = 1_700_000_000_000;
  const t = translateItem(`${(now + 90_000) / 1000}\t{"class":"Later","args":[],"jid":"later1","queue":"reports"}`, 'schedule', now);
  assert.ok(t.ok);
  assert.equal(t.job.queue, 'reports');
  assert.equal(t.job.opts.delay, 90_000);
  const past = translateItem(`${(now - 5000) / 1000}\t{"class":"Late","args":[],"jid":"late1","queue":"reports"}`, 'schedule', now);
  assert.ok(past.ok);
  assert.equal(past.job.opts.delay, undefined);
  assert.deepEqual(splitScheduleItem('12.5\t{"a":1}'), { runAtMs: 12_500, payload: '{"a":1}' });
});

test('malformed payloads are rejected with a reason naming what is wrong', () => {
  const cases: [string, string, RegExp][] = [
    ['{not json', 'resque:queue:q', /not valid JSON/],
    ['[1,2]', 'resque:queue:q', /not a JSON object/],
    ['{"args":[]}', 'queue:q', /no "class"/],
    ['{"class":"","args":[]}', 'queue:q', /no "class"/],
    ['{"class":"A","args":"x"}', 'queue:q', /"args" is not an array/],
    ['{"class":"A\\u0001","args":[]}', 'queue:q', /not a valid job name/],
    ['1\t{"class":"A","args":[],"jid":"zz1"}', 'schedule', /without "queue"/],
    ['1\t{"class":"A","args":[],"queue":"bad:name"}', 'schedule', /not a valid Conveyor queue name/],
  ];
  for (const [item, source, reason] of cases) {
    const t = translateItem(item, source);
    assert.equal(t.ok, false, item);
    assert.match((t as { reason: string }).reason, reason, item);
  }
});

test('a Resque payload without args gets empty args', () => {
  const t = translateItem('{"class":"Ping"}', 'resque:queue:q');
  assert.ok(t.ok);
  assert.deepEqual(t.job.data.args, []);
});
