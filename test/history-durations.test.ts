import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addHistogram, bucketBounds, DURATION_BUCKETS, durationBucket, emptyHistogram, histogramQuantile } from '../shared/history/durations.ts';

test('every duration falls in a bucket whose bounds hold it', () => {
  for (const ms of [0, 0.5, 1, 1.5, 2, 3, 7, 10, 99, 100, 1000, 12_345, 3_600_000]) {
    const i = durationBucket(ms);
    const [lo, hi] = bucketBounds(i);
    assert.ok(i >= 0 && i < DURATION_BUCKETS, `${ms} → bucket ${i}`);
    assert.ok(ms >= lo && ms < hi, `${ms} ms in [${lo}, ${hi}) (bucket ${i})`);
  }
  assert.equal(durationBucket(1e12), DURATION_BUCKETS - 1, 'a huge duration lands in the open-ended last bucket');
  assert.equal(durationBucket(Number.NaN), 0);
});

test('quantiles read back from a histogram are within a bucket of the true ones', () => {
  const durations = Array.from({ length: 10_000 }, (_, i) => 1 + ((i * 7919) % 2000)); // 1..2000 ms, uniform
  const h = emptyHistogram();
  for (const d of durations) h[durationBucket(d)]!++;
  const sorted = [...durations].sort((a, b) => a - b);
  for (const q of [0.5, 0.95, 0.99]) {
    const truth = sorted[Math.ceil(q * sorted.length) - 1]!;
    const got = histogramQuantile(h, q)!;
    assert.ok(Math.abs(got - truth) / truth < 0.19, `p${q * 100}: ${got.toFixed(1)} vs ${truth}`);
  }
  assert.equal(histogramQuantile(emptyHistogram(), 0.5), null, 'an empty histogram has no quantile');
});

test('histograms of separate hours add up to the histogram of all of them', () => {
  const a = emptyHistogram();
  const b = emptyHistogram();
  a[durationBucket(5)]! += 3;
  b[durationBucket(5)]! += 2;
  b[durationBucket(500)]! += 1;
  const sum = addHistogram(emptyHistogram(), a);
  addHistogram(sum, b);
  assert.equal(sum[durationBucket(5)], 5);
  assert.equal(sum[durationBucket(500)], 1);
  assert.equal(sum.reduce((x, y) => x + y, 0), 6);
  assert.equal(addHistogram(emptyHistogram(), []).length, DURATION_BUCKETS, 'a stored empty array ({}) counts as zeros');
});
