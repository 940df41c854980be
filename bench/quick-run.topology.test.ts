/**
 * `npm run bench -- --quick` runs every group end to end (Redis servers,
 * a Redis Cluster, server and worker processes, the BullMQ baselines) and
 * writes a well-formed result file with every figure. CI runs this instead
 * of the benchmark itself: the figures are not checked, only that they are
 * there and make sense.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkReport, type Report } from './lib/report.ts';

const ROOT = join(import.meta.dirname, '..');

const EXPECTED = [
  'enqueue.library-single',
  'enqueue.library-single-8',
  'enqueue.library-bulk',
  'enqueue.http-single',
  'enqueue.http-single-express',
  'enqueue.http-bulk',
  'enqueue.library-single-defaults',
  'enqueue.library-bulk-defaults',
  'processing.1x1',
  'processing.1x50',
  'processing.2x50',
  'processing.4x50',
  'processing.cpu-1x1',
  'processing.cpu-1x50',
  ...[200, 2000].flatMap((r) => ['p50', 'p95', 'p99', 'max'].map((p) => `latency.${r}.${p}`)),
  'memory.waiting',
  'memory.completed',
  'durable.single',
  'durable.bulk',
  'cluster.throughput',
  'cluster.per-cpu',
  'cluster.redis-cpu',
  'flow.throughput.gated',
  'flow.bwait.p50',
  'flow.bwait.p99',
  'flow.idle-keys',
  'supervisor.processes-2',
  'supervisor.idle-cpu',
  ...['metrics-on', 'heartbeat-off', 'watchdog-off', 'deadletter-off', 'gate-off', 'schedules-off', 'name-off', 'all-off', 'bullmq-alike', 'bullmq-defaults'].flatMap((v) => [`parts.${v}.cpu`, `parts.${v}.redis`]),
  'parts.throughput-vs-bullmq-alike',
  'parts.throughput-vs-bullmq-defaults',
  'batches.throughput',
  'batches.callback.mean',
  'batches.callback.p99',
  'batches.workflow-1000',
  'sandbox.noop.thread',
  'sandbox.noop.process',
  'sandbox.cpu.thread',
  'sandbox.cpu.process',
  'sandbox.wait.thread.p50',
  'sandbox.wait.thread.p99',
  'sandbox.wait.process.p50',
  'sandbox.wait.process.p99',
];

test('npm run bench -- --quick writes a well-formed result with every figure beside its baseline, and prints the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-test-'));
  try {
    const out = join(dir, 'quick.json');
    const t0 = Date.now();
    const child = spawn('npm', ['run', '--silent', 'bench', '--', '--quick', '--no-build', '--out', out], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const seconds = (Date.now() - t0) / 1000;
    console.log(`# bench --quick took ${seconds.toFixed(1)} s`);
    assert.equal(code, 0, `bench --quick failed:\n${stderr.slice(-3000)}`);

    const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
    assert.deepEqual(checkReport(report, EXPECTED), []);
    assert.equal(report.options.quick, true);
    for (const row of report.rows.filter((r) => r.target)) assert.equal(typeof row.met, 'boolean', row.id);
    // Every figure of the suite has a baseline measured in the same run.
    for (const row of report.rows) assert.ok(row.baseline && row.ratio !== undefined, `${row.id} has a baseline and a ratio`);
    assert.match(stdout, /\| figure \| unit \| Conveyor \| baseline \| ratio \| target \|/);
    assert.equal(stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure') && !l.startsWith('| ---')).length, EXPECTED.length, 'one table line per figure');
    assert.match(stdout, new RegExp(`results: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
