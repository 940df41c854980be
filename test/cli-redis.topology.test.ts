/**
 * `conveyor redis info` and `conveyor redis failover` on a Sentinel topology
 * (primary, replica, 3 Sentinels), through the real CLI binary.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startTopology, type Topology } from '../shared/testing/redis-topology.ts';

const ROOT = join(import.meta.dirname, '..');
let topo: Topology;
before(async () => {
  topo = await startTopology({ replicas: 1, sentinels: 3 });
});
after(async () => {
  await topo?.stop();
});

function conveyor(...args: string[]): Promise<{ code: number | null; json: any; stderr: string }> {
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'conveyor.js'), ...args, '--json'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', REDIS_URL: topo.sentinelUrl } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, json: out ? JSON.parse(out) : undefined, stderr: err })));
}

test('redis info on a Sentinel URL: the primary, its replica with lag, and the Sentinels agreeing', async () => {
  const r = await conveyor('redis', 'info');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.kind, 'sentinel');
  const [primary] = r.json.nodes;
  assert.equal(primary.role, 'master');
  assert.equal(primary.replicas.length, 1);
  assert.equal(primary.replicas[0].address, `127.0.0.1:${topo.replicas[0]!.port}`);
  assert.equal(typeof primary.replicas[0].lagSeconds, 'number');
  assert.equal(r.json.sentinel.view.agreed, true);
  assert.equal(r.json.sentinel.view.primary, `127.0.0.1:${topo.primary.port}`);
  assert.equal(r.json.sentinel.view.sentinels.length, 3);
});

test('redis failover needs --yes, then promotes the replica and reports old -> new', async () => {
  const refused = await conveyor('redis', 'failover');
  assert.equal(refused.code, 2);
  const r = await conveyor('redis', 'failover', '--yes');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.from, `127.0.0.1:${topo.primary.port}`);
  assert.equal(r.json.to, `127.0.0.1:${topo.replicas[0]!.port}`);
  assert.ok(r.json.ms > 0);
  const now = await topo.currentPrimary();
  assert.equal(now.port, topo.replicas[0]!.port);
});
