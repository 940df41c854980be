/**
 * The Redis topology of `npm run start:ha`: what docker-compose.yml runs, as
 * local processes. A primary and 2 replicas (AOF everysec, noeviction) on
 * CONVEYOR_HA_BASE_PORT..+2 (default 6390-6392) and 3 Sentinels (quorum 2)
 * on base+20000..+2 (26390-26392), data and configs under
 * <CONVEYOR_HOME>/ha/. Sentinel rewrites its own and the nodes' configs as the
 * topology changes, so a second run starts from the last primary: existing
 * configs are reused, never rewritten.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { sentinelView } from '../shared/redis/sentinel-admin.ts';
import { sentinelId, writeDataNodeConf, writeSentinelConf } from '../shared/testing/topology-files.ts';
import { answersPing, hasRedisServer, INSTALL_HINT, launchRedis, LocalRedisError, type LocalRedis } from '../cli/platform/local-redis.ts';

export const HA_MASTER_NAME = 'conveyor';
/** Detection of a dead primary: 5 s (production default 30 s) so a demo shows it soon. */
const DOWN_AFTER_MS = 5000;
const FAILOVER_TIMEOUT_MS = 10_000;

export interface HaPorts {
  data: [number, number, number];
  sentinels: [number, number, number];
}

export function haPorts(base: number): HaPorts {
  return { data: [base, base + 1, base + 2], sentinels: [base + 20_000, base + 20_001, base + 20_002] };
}

export function haSentinelUrl(base: number): string {
  return `redis-sentinel://${haPorts(base).sentinels.map((p) => `127.0.0.1:${p}`).join(',')}#${HA_MASTER_NAME}`;
}

export interface HaNode extends LocalRedis {
  name: string;
}

export interface LocalHa {
  url: string;
  dir: string;
  /** False when Sentinels already answered on the ports (left running at the end). */
  started: boolean;
  dataNodes: HaNode[];
  sentinels: HaNode[];
  /** Sentinels first (no failover while the data nodes go down), then the data nodes. */
  stop(): Promise<void>;
}

interface State {
  basePort: number;
}

function writeConfigs(dir: string, ports: HaPorts): void {
  const ids = ports.sentinels.map(() => sentinelId());
  ports.data.forEach((port, i) => {
    const d = join(dir, `redis-${i}`);
    mkdirSync(d, { recursive: true });
    const conf = writeDataNodeConf({ dir: d, replicaOf: i === 0 ? undefined : ports.data[0] });
    appendFileSync(conf, [
      `port ${port}`,
      `dir "${d}"`,
      `logfile "${join(d, 'redis.log')}"`,
      // Acknowledged jobs survive a restart; a full Redis refuses writes rather than evicting queue keys.
      'appendonly yes',
      'appendfsync everysec',
      'maxmemory-policy noeviction',
      // min-replicas-to-write stays off: see docs/operations.md ("min-replicas-to-write").
      '',
    ].join('\n'));
  });
  ports.sentinels.forEach((port, i) => {
    const d = join(dir, `sentinel-${i}`);
    mkdirSync(d, { recursive: true });
    const conf = writeSentinelConf({
      dir: d,
      myId: ids[i]!,
      masterName: HA_MASTER_NAME,
      primaryPort: ports.data[0],
      quorum: 2,
      downAfterMs: DOWN_AFTER_MS,
      failoverTimeoutMs: FAILOVER_TIMEOUT_MS,
      parallelSyncs: 1,
      replicaPorts: ports.data.slice(1),
      peers: ports.sentinels.flatMap((p, j) => (j === i ? [] : [{ port: p, id: ids[j]! }])),
    });
    appendFileSync(conf, [`port ${port}`, `dir "${d}"`, `logfile "${join(d, 'sentinel.log')}"`, ''].join('\n'));
  });
}

export async function ensureLocalHa(opts: { basePort: number; dir: string; readyTimeoutMs?: number }): Promise<LocalHa> {
  const { basePort, dir } = opts;
  const ports = haPorts(basePort);
  const url = haSentinelUrl(basePort);
  if (await answersPing(`redis://127.0.0.1:${ports.sentinels[0]}`, 500)) {
    return { url, dir, started: false, dataNodes: [], sentinels: [], stop: async () => {} };
  }
  if (!hasRedisServer()) throw new LocalRedisError(INSTALL_HINT);

  const stateFile = join(dir, 'state.json');
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
    if (state.basePort !== basePort) {
      throw new LocalRedisError(`${dir} holds a topology on ports ${state.basePort}.. (this run asks for ${basePort}..): run with CONVEYOR_HA_BASE_PORT=${state.basePort}, or delete ${dir} to start afresh.`);
    }
  } else {
    mkdirSync(dir, { recursive: true });
    writeConfigs(dir, ports);
    writeFileSync(stateFile, JSON.stringify({ basePort } satisfies State));
  }

  const started: HaNode[] = [];
  const launch = async (name: string, port: number, args: string[], logFile: string): Promise<HaNode> => {
    const node = Object.assign(await launchRedis({ port, dir: join(dir, name), args, logFile, readyTimeoutMs: opts.readyTimeoutMs }), { name });
    started.push(node);
    return node;
  };
  const stopAll = async (nodes: HaNode[]) => {
    for (const n of [...nodes].reverse()) await n.stop();
  };
  try {
    const dataNodes = await Promise.all(ports.data.map((p, i) => launch(`redis-${i}`, p, [join(dir, `redis-${i}`, 'redis.conf')], join(dir, `redis-${i}`, 'redis.log'))));
    const sentinels = await Promise.all(ports.sentinels.map((p, i) => launch(`sentinel-${i}`, p, [join(dir, `sentinel-${i}`, 'sentinel.conf'), '--sentinel'], join(dir, `sentinel-${i}`, 'sentinel.log'))));
    await settled(url, opts.readyTimeoutMs ?? 20_000);
    return {
      url,
      dir,
      started: true,
      dataNodes,
      sentinels,
      async stop() {
        await stopAll(sentinels);
        await stopAll(dataNodes);
      },
    };
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

/**
 * Until the Sentinels agree on a primary they see healthy. Replicas may still
 * be (re)linking: on a second run the old primary of the last failover is
 * turned into a replica by the Sentinels only after several seconds, and
 * nothing here needs to wait for that.
 */
async function settled(url: string, timeoutMs: number): Promise<void> {
  const target = parseRedisUrl(url);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await sentinelView(target);
      if (v.agreed && v.primaryFlags === 'master') return;
      last = `primary ${v.primary}, replicas ${v.replicas.map((r) => `${r.address} ${r.flags}`).join(', ') || 'none yet'}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new LocalRedisError(`the Sentinels did not settle within ${timeoutMs / 1000} s: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
