/** The result file's rows: ratios, verdicts against targets, the table, and the well-formedness check the quick-run test relies on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkReport, makeRow, toTable, type Report } from './lib/report.ts';
import { percentile, summarize } from './lib/stats.ts';

test('a row keeps the median of each side and the median of the per-run ratios, and judges its target', () => {
  const row = makeRow({ group: 'g', id: 'g.x', label: 'x', unit: 'jobs/s', conveyor: [90, 100, 110], baseline: { label: 'BullMQ', samples: [100, 100, 100] }, target: { kind: 'ratio-min', value: 0.95 } });
  assert.equal(row.conveyor.median, 100);
  assert.deepEqual(row.ratios, [0.9, 1, 1.1]);
  assert.equal(row.ratio, 1);
  assert.equal(row.met, true);
  const slow = makeRow({ group: 'g', id: 'g.y', label: 'y', unit: 'jobs/s', conveyor: [80], baseline: { label: 'B', samples: [100] }, target: { kind: 'ratio-min', value: 0.95 } });
  assert.equal(slow.met, false);
  const latency = makeRow({ group: 'g', id: 'g.p99', label: 'p99', unit: 'ms', better: 'lower', conveyor: [3.2, 6.1, 4.4], target: { kind: 'max', value: 5 } });
  assert.equal(latency.conveyor.median, 4.4);
  assert.equal(latency.met, true);
});

test('spread, percentiles and the table', () => {
  assert.equal(summarize([90, 100, 110]).spreadPct, 20);
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual([50, 95, 99, 100].map((p) => percentile(sorted, p)), [50, 95, 99, 100]);
  const table = toTable([makeRow({ group: 'g', id: 'g.x', label: 'enqueue', unit: 'jobs/s', conveyor: [9500], baseline: { label: 'queue.add', samples: [10000] }, target: { kind: 'ratio-min', value: 0.95 } })]);
  assert.match(table, /^\| figure \| unit \| Conveyor \| baseline \| ratio \| target \| spread C \/ B \|$/m);
  assert.match(table, /\| enqueue \| jobs\/s \| 9,500 \| 10,000 \(queue\.add\) \| 0\.95× \| ≥ 0\.95× ✓ \|/);
});

test('checkReport accepts a well-formed report and names what is wrong with a bad one', () => {
  const good: Report = {
    version: 1,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: 1,
    options: { quick: true, runs: 1, only: [] },
    machine: { nproc: 2, cpuModel: 'x', node: 'v20', redis: '7.0', os: 'Linux', memGb: 1 },
    load: { before: [0.1, 0.1, 0.1], after: [0.2, 0.1, 0.1], quiet: true },
    rows: [makeRow({ group: 'g', id: 'g.x', label: 'x', unit: 'jobs/s', conveyor: [1], baseline: { label: 'b', samples: [2] } })],
    notes: [],
  };
  assert.deepEqual(checkReport(good, ['g.x']), []);
  assert.deepEqual(checkReport(good, ['g.x', 'g.missing']), ['row g.missing is missing']);
  const bad = structuredClone(good);
  bad.rows[0]!.conveyor.median = NaN;
  delete bad.rows[0]!.ratio;
  assert.deepEqual(checkReport(bad), ['g.x: conveyor figure is not a finite number', 'g.x: ratio is missing']);
  assert.deepEqual(checkReport({ ...good, rows: [] }), ['no rows']);
});
