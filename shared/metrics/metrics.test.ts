import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Job } from 'bullmq';
import { JobNameLabels, OTHER } from './labels.ts';
import { parseInfo, readingFromInfo } from './redis-gauges.ts';
import { JobMetrics } from './job-metrics.ts';
import { jsonDepth, withinDepth } from '../queue/json-depth.ts';

test('job name labels: handler names as they are, anything else "other"; without handlers, the first 100 names', () => {
  const known = new JobNameLabels(['noop', 'send-email']);
  assert.equal(known.label('noop'), 'noop');
  assert.equal(known.label('send-emails'), OTHER);
  assert.equal(known.label(''), OTHER);
  assert.equal(known.label(5), OTHER);
  const open = new JobNameLabels(undefined, 3);
  assert.deepEqual(['a', 'b', 'a', 'c', 'd', 'b'].map((n) => open.label(n)), ['a', 'b', 'a', 'c', OTHER, 'b']);
  assert.equal(open.label('x'.repeat(129)), OTHER);
});

test('INFO parsing: role, eviction policy, memory, replicas and the largest replica lag', () => {
  const primary = parseInfo(
    '# Server\r\nrun_id:abc\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=10.0.0.2,port=6379,state=online,offset=10,lag=0\r\nslave1:ip=10.0.0.3,port=6379,state=online,offset=9,lag=7\r\n',
  );
  const r = readingFromInfo(primary, 0.002);
  assert.deepEqual(
    { role: r.role, noeviction: r.noeviction, used: r.usedMemory, max: r.maxMemory, replicas: r.connectedReplicas, lag: r.replicaLagSeconds, runId: r.runId },
    { role: 'master', noeviction: false, used: 1048576, max: 0, replicas: 2, lag: 7, runId: 'abc' },
  );
  const replica = readingFromInfo(parseInfo('role:slave\nmaster_link_status:up\nmaster_last_io_seconds_ago:3\nmaxmemory_policy:noeviction\n'), 0.001);
  assert.equal(replica.role, 'slave');
  assert.equal(replica.replicaLagSeconds, 3);
  assert.equal(replica.noeviction, true);
  assert.equal(readingFromInfo(parseInfo('role:slave\nmaster_link_status:down\nmaster_last_io_seconds_ago:-1\n'), 0).replicaLagSeconds, undefined);
});

test('job metrics: attempts, failures, retries, dead letters, durations; wait only for first attempts', async () => {
  const registry = new Registry();
  const m = new JobMetrics(registry, ['noop']);
  const job = (over: Partial<Job>) => ({ name: 'noop', attemptsMade: 0, timestamp: 1000, delay: 0, processedOn: 1500, ...over }) as Job;
  m.started('q', job({}));
  m.started('q', job({ attemptsMade: 1 })); // a retry: not an enqueue-to-start latency
  m.started('q', job({ name: 'mystery', delay: 400 }));
  m.finished('q', job({}), 20, undefined);
  m.finished('q', job({}), 30, false);
  m.finished('q', job({ name: 'mystery' }), 40, true);
  const text = await registry.metrics();
  const v = (s: string) => Number(new RegExp(`^${s.replace(/[{}."]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
  assert.equal(v('conveyor_jobs_processed_total{queue="q",name="noop"}'), 2);
  assert.equal(v('conveyor_jobs_failed_total{queue="q",name="noop"}'), 1);
  assert.equal(v('conveyor_jobs_retried_total{queue="q",name="noop"}'), 1);
  assert.equal(v('conveyor_jobs_dead_lettered_total{queue="q",name="noop"}'), 0);
  assert.equal(v('conveyor_jobs_dead_lettered_total{queue="q",name="other"}'), 1);
  assert.equal(v('conveyor_job_duration_seconds_sum{queue="q",name="noop"}'), 0.05);
  assert.equal(v('conveyor_job_wait_seconds_count{queue="q",name="noop"}'), 1);
  assert.equal(v('conveyor_job_wait_seconds_sum{queue="q",name="noop"}'), 0.5);
  // runnable at timestamp + delay: 1000 + 400, started at 1500
  assert.equal(v('conveyor_job_wait_seconds_sum{queue="q",name="other"}'), 0.1);
  assert.ok(!text.includes('mystery'));
});

test('JSON depth: scalars 0, nesting counted without recursion, stops early past the limit', () => {
  assert.equal(jsonDepth(1), 0);
  assert.equal(jsonDepth({}), 1);
  assert.equal(jsonDepth({ a: [1, { b: [] }] }), 4);
  let deep: unknown = 0;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.equal(jsonDepth(deep), 200_000);
  assert.equal(withinDepth(deep, 64), false);
  assert.equal(jsonDepth(deep, 64), 65, 'stops one past the limit');
  assert.equal(withinDepth({ a: { b: {} } }, 3), true);
  assert.equal(withinDepth({ a: { b: {} } }, 2), false);
});

test('attached to a WorkerHost: watchdog restarts (reason "silent") and worker errors are counted by queue', async () => {
  const { EventEmitter } = await import('node:events');
  const host = Object.assign(new EventEmitter(), {
    queues: ['q'],
    stats: { active: 2 },
    config: { concurrency: 7 },
    lifecycle: 'running',
  });
  const registry = new Registry();
  new JobMetrics(registry, ['noop']).attach(host as never, registry);
  host.emit('worker-recreated', 'q', 'silent');
  host.emit('worker-recreated', 'q', 'closed'); // not the watchdog's doing
  host.emit('worker-error', 'q', new Error('x'));
  const text = await registry.metrics();
  assert.match(text, /^conveyor_watchdog_restarts_total\{queue="q"\} 1$/m);
  assert.match(text, /^conveyor_worker_errors_total\{queue="q"\} 1$/m);
  assert.match(text, /^conveyor_worker_active_jobs 2$/m);
  assert.match(text, /^conveyor_worker_concurrency 7$/m);
  assert.match(text, /^conveyor_worker_running 1$/m);
});
