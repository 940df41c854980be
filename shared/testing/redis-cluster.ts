/**
 * A Redis Cluster spawned on free ports for tests and the benchmark: N
 * masters, each with R replicas (`redis-server --cluster-enabled yes` per
 * node, then `redis-cli --cluster create ... --cluster-replicas R`). It waits
 * until every node reports cluster_state:ok and agrees on who holds which
 * slots, and every replica's link to its master is up.
 *
 * failover(masterPort) runs CLUSTER FAILOVER on one of that master's replicas
 * (the coordinated, lossless kind an operator or a managed service does) and
 * waits until every node sees the promotion.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Cluster, Redis } from 'ioredis';
import { bullName, PREFIX } from '../queue/names.ts';
import { startRedis, type RedisProcess } from './redis-process.ts';
import { uniqueQueue } from './fixtures.ts';
import { waitFor } from './wait-for.ts';

export interface ClusterOptions {
  /** Shards (each owns an equal part of the 16384 slots); 1-16, default 3. */
  masters?: number;
  /** Replicas per master; default 1. */
  replicasPerMaster?: number;
  /** cluster-node-timeout (ms); default 2000 so a dead node is noticed quickly. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  readyTimeoutMs?: number;
}

/** One line of CLUSTER NODES, as far as the tests need it. */
export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** For a replica: its master's id. */
  masterId: string | undefined;
  /** For a master: the slot ranges it serves, e.g. [[0, 5460]]. */
  slots: [number, number][];
  failed: boolean;
}

export interface RedisClusterHandle {
  /** redis-cluster://127.0.0.1:p1,127.0.0.1:p2,... (every node) */
  url: string;
  nodes: RedisProcess[];
  startupMs: number;
  /** The cluster as one node sees it (default: the first one answering). */
  view(port?: number): Promise<ClusterNodeView[]>;
  /** Current masters, ordered by their first slot. */
  masters(): Promise<ClusterNodeView[]>;
  /** The port of the master that serves this key now. */
  masterOf(key: string): Promise<number>;
  /** The port of the master that holds a Conveyor queue (all its keys share the slot of "{queue}"). */
  masterOfQueue(queue: string): Promise<number>;
  /** `perShard` fresh queue names on every master, interleaved by shard (q0 on shard 0, q1 on shard 1, ...). */
  queuesOnEveryShard(perShard: number, prefix?: string): Promise<string[]>;
  /** The replicas of the master on masterPort. */
  replicasOf(masterPort: number): Promise<RedisProcess[]>;
  /** Resolves when every node is ok, agrees on the slots and every replica is linked (after a test paused a node). */
  healthy(timeoutMs?: number): Promise<void>;
  /** Promotes a replica of the master on masterPort (CLUSTER FAILOVER); resolves when every node agrees. */
  failover(masterPort: number): Promise<{ oldMaster: number; newMaster: number; ms: number }>;
  /** A plain ioredis Cluster client for assertions; closed by stop(). */
  client(): Cluster;
  /** A plain client of one node; closed by stop(). */
  nodeClient(port: number): Redis;
  stop(): Promise<void>;
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} exited ${code}:\n${out.slice(-1500)}`))));
  });
}

export function parseClusterNodes(text: string): ClusterNodeView[] {
  const out: ClusterNodeView[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8 || !f[0] || !f[1] || !f[2]) continue;
    // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <state> <slot>...
    const port = Number(/:(\d+)@/.exec(f[1])?.[1] ?? NaN);
    const flags = f[2].split(',');
    const slots: [number, number][] = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [a, b] = s.split('-').map(Number);
      if (a !== undefined && !Number.isNaN(a)) slots.push([a, b ?? a]);
    }
    out.push({
      id: f[0],
      port,
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: f[3] && f[3] !== '-' ? f[3] : undefined,
      slots,
      failed: flags.includes('fail') || flags.includes('fail?'),
    });
  }
  return out;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<RedisClusterHandle> {
  const started = performance.now();
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 1;
  const total = masters * (1 + replicas);
  const nodes = await Promise.all(
    Array.from({ length: total }, () =>
      startRedis({
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf', // each node has its own dir
          '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000),
          // A node learns its own address from the peers that MEET it: a lone
          // master would announce none in CLUSTER SLOTS and clients would hang.
          '--cluster-announce-ip', '127.0.0.1',
          // A replica may be promoted at once, whatever its link's age.
          '--cluster-replica-validity-factor', '0',
          ...(opts.args ?? []),
        ],
      }),
    ),
  );
  const admin = new Map<number, Redis>();
  const nodeClient = (port: number): Redis => {
    let c = admin.get(port);
    if (!c) {
      const n = nodes.find((x) => x.port === port);
      if (!n) throw new Error(`no cluster node on port ${port}`);
      c = n.client();
      admin.set(port, c);
    }
    return c;
  };
  const clusterClients: Cluster[] = [];
  const stop = async () => {
    for (const c of clusterClients) c.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
  };

  try {
    // With one master there is nothing to spread: assign the slots by hand
    // (redis-cli --cluster create refuses fewer than 3 masters).
    if (masters >= 3) {
      await runCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    } else {
      await assembleByHand(nodes, masters, replicas, nodeClient);
    }
    await waitFor('the cluster to be ready', () => settled(nodes, nodeClient, masters, total), { timeoutMs: opts.readyTimeoutMs ?? 20_000, intervalMs: 50 });
  } catch (err) {
    await stop();
    throw err;
  }

  const view = async (port?: number): Promise<ClusterNodeView[]> => {
    const p = port ?? nodes[0]!.port;
    return parseClusterNodes(String(await nodeClient(p).call('CLUSTER', 'NODES')));
  };

  const handle: RedisClusterHandle = {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    startupMs: Math.round(performance.now() - started),
    view,
    async masters() {
      const v = await view();
      return v.filter((n) => n.role === 'master' && n.slots.length > 0).sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
    },
    async masterOf(key) {
      const slot = Number(await nodeClient(nodes[0]!.port).call('CLUSTER', 'KEYSLOT', key));
      const m = (await handle.masters()).find((n) => n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!m) throw new Error(`no master serves slot ${slot}`);
      return m.port;
    },
    masterOfQueue(queue) {
      return handle.masterOf(`${PREFIX}:${bullName(queue)}:wait`);
    },
    async queuesOnEveryShard(perShard, prefix = 'cq') {
      const ports = (await handle.masters()).map((m) => m.port);
      const byShard = new Map<number, string[]>(ports.map((p) => [p, []]));
      while ([...byShard.values()].some((l) => l.length < perShard)) {
        const name = uniqueQueue(prefix);
        const list = byShard.get(await handle.masterOfQueue(name))!;
        if (list.length < perShard) list.push(name);
      }
      return Array.from({ length: perShard * ports.length }, (_, i) => byShard.get(ports[i % ports.length]!)![Math.floor(i / ports.length)]!);
    },
    async replicasOf(masterPort) {
      const v = await view(masterPort);
      const id = v.find((n) => n.port === masterPort)?.id;
      const ports = v.filter((n) => n.role === 'replica' && n.masterId === id).map((n) => n.port);
      return nodes.filter((n) => ports.includes(n.port));
    },
    async healthy(timeoutMs = 20_000) {
      await waitFor('the cluster to be healthy', () => settled(nodes, nodeClient, masters, total), { timeoutMs, intervalMs: 50 });
    },
    async failover(masterPort) {
      const t0 = performance.now();
      const v = await view(masterPort);
      const master = v.find((n) => n.port === masterPort);
      if (!master || master.role !== 'master') throw new Error(`port ${masterPort} is not a master`);
      const replica = v.find((n) => n.role === 'replica' && n.masterId === master.id && !n.failed);
      if (!replica) throw new Error(`master ${masterPort} has no healthy replica`);
      await nodeClient(replica.port).call('CLUSTER', 'FAILOVER');
      await waitFor(`replica ${replica.port} to take over from ${masterPort} on every node`, async () => {
        for (const n of nodes) {
          const seen = parseClusterNodes(String(await nodeClient(n.port).call('CLUSTER', 'NODES')));
          if (seen.find((x) => x.port === replica.port)?.role !== 'master') return false;
          if (seen.find((x) => x.port === masterPort)?.role !== 'replica') return false;
        }
        return settled(nodes, nodeClient, masters, total);
      }, { timeoutMs: 20_000, intervalMs: 50 });
      return { oldMaster: masterPort, newMaster: replica.port, ms: Math.round(performance.now() - t0) };
    },
    client() {
      const c = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 1 } });
      c.on('error', () => {});
      clusterClients.push(c);
      return c;
    },
    nodeClient,
    stop,
  };
  return handle;
}

/** Every node ok, one view of the slots, every replica linked to its master. */
async function settled(nodes: RedisProcess[], nodeClient: (port: number) => Redis, masters: number, total: number): Promise<boolean> {
  let reference: string | undefined;
  for (const n of nodes) {
    const c = nodeClient(n.port);
    const info = String(await c.call('CLUSTER', 'INFO'));
    if (!/cluster_state:ok/.test(info)) return false;
    if (!new RegExp(`cluster_known_nodes:${total}\\b`).test(info)) return false;
    const v = parseClusterNodes(String(await c.call('CLUSTER', 'NODES')));
    const owners = v
      .filter((x) => x.role === 'master' && x.slots.length > 0)
      .map((x) => `${x.port}:${x.slots.map((s) => s.join('-')).join(',')}`)
      .sort()
      .join(' ');
    if (v.filter((x) => x.role === 'master' && x.slots.length > 0).length !== masters) return false;
    // redis-cli returns before every node has heard which nodes are replicas.
    if (v.filter((x) => x.role === 'replica').length !== total - masters) return false;
    if (reference === undefined) reference = owners;
    else if (owners !== reference) return false;
    if (v.some((x) => x.failed)) return false;
    const repl = String(await c.info('replication'));
    if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return false;
  }
  return true;
}

/** Cluster of 1 or 2 masters: slots split evenly, then replicas attached. */
async function assembleByHand(nodes: RedisProcess[], masters: number, replicas: number, nodeClient: (port: number) => Redis): Promise<void> {
  const first = nodeClient(nodes[0]!.port);
  for (const n of nodes.slice(1)) await first.call('CLUSTER', 'MEET', '127.0.0.1', n.port);
  const per = Math.ceil(16384 / masters);
  for (let i = 0; i < masters; i++) {
    const lo = i * per;
    const hi = Math.min(16383, lo + per - 1);
    await nodeClient(nodes[i]!.port).call('CLUSTER', 'ADDSLOTSRANGE', lo, hi);
  }
  const ids = await Promise.all(nodes.slice(0, masters).map(async (n) => String(await nodeClient(n.port).call('CLUSTER', 'MYID'))));
  await waitFor('every node to know every other', async () => {
    for (const n of nodes) {
      const info = String(await nodeClient(n.port).call('CLUSTER', 'INFO'));
      if (!new RegExp(`cluster_known_nodes:${nodes.length}\\b`).test(info)) return false;
    }
    return true;
  }, { timeoutMs: 10_000, intervalMs: 50 });
  for (let r = 0; r < replicas; r++) {
    for (let i = 0; i < masters; i++) {
      const node = nodes[masters + r * masters + i]!;
      await waitFor('the replica to learn its master', async () => {
        try {
          return (await nodeClient(node.port).call('CLUSTER', 'REPLICATE', ids[i]!)) === 'OK';
        } catch {
          return false; // "Unknown node" until gossip reaches it
        }
      }, { timeoutMs: 10_000, intervalMs: 50 });
    }
  }
}
