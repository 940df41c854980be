/**
 * What the Sentinels of a test topology say: the primary each one names,
 * whether they agree, and whether a Sentinel sees every node healthy (the
 * SENTINEL MASTER / REPLICAS / SENTINELS flags). Paused or dead Sentinels are
 * left out: they cannot answer.
 */
import type { TopologyNode } from './topology-node.ts';

/** SENTINEL replies come as flat [key, value, key, value] arrays. */
export function fieldsOf(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

export class SentinelView {
  private readonly sentinels: readonly TopologyNode[];
  private readonly masterName: string;

  constructor(sentinels: readonly TopologyNode[], masterName: string) {
    this.sentinels = sentinels;
    this.masterName = masterName;
  }

  answering(): TopologyNode[] {
    return this.sentinels.filter((n) => n.answering());
  }

  async masterAddr(s: TopologyNode): Promise<{ host: string; port: number } | undefined> {
    const r = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName)) as string[] | null;
    return r && r[0] && r[1] ? { host: r[0], port: Number(r[1]) } : undefined;
  }

  /** The primary port every answering sentinel names, or undefined while they disagree. */
  async agreedPrimaryPort(): Promise<number | undefined> {
    const live = this.answering();
    if (live.length === 0) throw new Error('no sentinel is answering');
    const ports = await Promise.all(live.map(async (s) => (await this.masterAddr(s))?.port));
    return ports.every((p) => p !== undefined && p === ports[0]) ? ports[0] : undefined;
  }

  async replicas(s: TopologyNode): Promise<Record<string, string>[]> {
    return ((await s.call('SENTINEL', 'REPLICAS', this.masterName)) as unknown[]).map(fieldsOf);
  }

  /** Lists the node as a replica with no s_down / disconnected flag. */
  async seesReplica(s: TopologyNode, node: TopologyNode): Promise<boolean> {
    return (await this.replicas(s)).some((r) => Number(r.port) === node.port && r.flags === 'slave');
  }

  /** The master flagged plainly 'master' (not s_down, disconnected, failover_in_progress), every replica and peer healthy. */
  async seesAll(s: TopologyNode, replicas: readonly TopologyNode[], peers: readonly TopologyNode[]): Promise<boolean> {
    const master = fieldsOf(await s.call('SENTINEL', 'MASTER', this.masterName));
    if (master.flags !== 'master') return false;
    for (const r of replicas) if (!(await this.seesReplica(s, r))) return false;
    const known = ((await s.call('SENTINEL', 'SENTINELS', this.masterName)) as unknown[]).map(fieldsOf);
    return peers.every((p) => p === s || known.some((k) => Number(k.port) === p.port && k.flags === 'sentinel'));
  }
}
