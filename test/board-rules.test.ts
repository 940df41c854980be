/** The board's pure rules: alert banners, the login limiter, value formatting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAlerts, type QueueHealth } from '../dashboard/alerts.ts';
import { bytes, duration, num, relative, time } from '../dashboard/pages/format.ts';

const q = (over: Partial<QueueHealth>): QueueHealth => ({ name: 'q', paused: false, waiting: 0, dead: 0, oldestSince: undefined, consumers: 1, recentDead: 0, ...over });
const NOW = 1_700_000_000_000;

test('alerts: waiting jobs without a live consumer, old waiting jobs, growing dead letters, an evicting Redis', () => {
  const base = { evictionPolicies: ['noeviction'], waitingThresholdMs: 60_000, deadWindowMin: 15, now: NOW };
  assert.deepEqual(computeAlerts({ ...base, queues: [q({ waiting: 5 })] }), [], 'consumed and fresh: nothing to say');
  const orphan = computeAlerts({ ...base, queues: [q({ waiting: 5, consumers: 0 })] });
  assert.equal(orphan.length, 1);
  assert.equal(orphan[0]!.tone, 'bad');
  assert.match(orphan[0]!.html, /5 waiting jobs and no live worker/);
  assert.deepEqual(computeAlerts({ ...base, queues: [q({ waiting: 5, consumers: 0, paused: true })] }), [], 'a paused queue is expected to wait');
  const old = computeAlerts({ ...base, queues: [q({ waiting: 1, oldestSince: NOW - 90_000 })] });
  assert.match(old[0]!.html, /has waited 1 min 30 s \(alert threshold 1 min\)/);
  assert.match(computeAlerts({ ...base, queues: [q({ dead: 9, recentDead: 4 })] })[0]!.html, /4 jobs dead-lettered in the last 15 min; 9 dead letters now/);
  assert.deepEqual(computeAlerts({ ...base, queues: [q({ dead: 0, recentDead: 4 })] }), [], 'all replayed: nothing is growing');
  const lru = computeAlerts({ ...base, evictionPolicies: ['allkeys-lru', 'allkeys-lru', undefined], queues: [] });
  assert.equal(lru.length, 1, 'one banner per policy, not per node');
  assert.match(lru[0]!.html, /allkeys-lru/);
  assert.match(computeAlerts({ ...base, queues: [q({ name: '<x>', waiting: 1, consumers: 0 })] })[0]!.html, /&lt;x&gt;/, 'names are escaped');
});

test('formatting: grouped numbers, bytes, durations, relative times with the absolute one on hover', () => {
  assert.equal(num(1234567), '1,234,567');
  assert.equal(num(2.345), '2.3');
  assert.equal(num(undefined), '—');
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1536), '1.5 KB');
  assert.equal(bytes(160 * 1024 * 1024), '160 MB');
  assert.equal(duration(850), '850 ms');
  assert.equal(duration(192_000), '3 min 12 s');
  assert.equal(duration(2 * 3600_000 + 5 * 60_000), '2 h 5 min');
  assert.equal(relative(NOW - 3 * 60_000, NOW), '3 min ago');
  assert.equal(relative(NOW + 2 * 3600_000, NOW), 'in 2 h');
  assert.equal(time(NOW - 60_000, NOW), '<time datetime="2023-11-14T22:12:20.000Z" title="2023-11-14 22:12:20 UTC" data-rel>1 min ago</time>');
  assert.equal(time(null), '<span class="muted">—</span>');
});
