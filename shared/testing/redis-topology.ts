/**
 * A Redis primary, its replicas and Sentinels, spawned on free ports for
 * failover tests: start, fail over on demand or by killing / pausing the
 * primary, restart nodes, and wait for the Sentinels to agree on the outcome.
 *
 * Sentinel's internal periods are shortened with SENTINEL DEBUG (INFO every
 * 1 s instead of 10 s, hello every 0.5 s instead of 2 s, ping / link retry
 * every 0.5 s instead of 1 s): a returning old primary is then demoted within
 * ~2 s instead of 8-20 s, and a sentinel that started before its peers links
 * to them within 0.5 s. Detection and election still follow
 * down-after-milliseconds and failover-timeout as in production.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from './free-port.ts';
import { startRedis } from './redis-process.ts';
import { removeOnExit, forgetDir } from './reaper.ts';
import type { AclUser } from './acl.ts';
import { sentinelId, writeDataNodeConf, writeSentinelConf } from './topology-files.ts';
import { TopologyNode } from './topology-node.ts';
import { SentinelView } from './sentinel-view.ts';
import { makeCerts, redisTlsUnsupported, type CertFiles } from './tls-certs.ts';
import { waitFor } from './wait-for.ts';

export { TopologyNode } from './topology-node.ts';
export { SentinelView } from './sentinel-view.ts';

export interface TopologyOptions {
  replicas?: number;
  sentinels?: number;
  masterName?: string;
  downAfterMs?: number;
  /** Also the wait before a failed election is retried (twice this). Default 5000. */
  failoverTimeoutMs?: number;
  /** Default: a majority of the sentinels. */
  quorum?: number;
  parallelSyncs?: number;
  /** requirepass + masterauth on data nodes, requirepass + auth-pass on sentinels. */
  password?: string;
  /** Extra ACL users on every node, sentinels included. */
  aclUsers?: AclUser[];
  /** Every node listens on a TLS port only and replicates over TLS; sentinelUrl is rediss-sentinel://. */
  tls?: boolean;
  /** appendonly yes (with appendfsync 'always' or 'everysec'; true = everysec). */
  aof?: boolean | 'always' | 'everysec';
  /** SENTINEL DEBUG periods in ms; merged over the fast defaults below. */
  sentinelTimers?: Record<string, number>;
  readyTimeoutMs?: number;
  /** Nodes known and announced by the host name "localhost", as Sentinels with announce-hostnames report them. */
  hostnames?: boolean;
}

export const FAST_SENTINEL_TIMERS: Readonly<Record<string, number>> = { 'info-period': 1000, 'publish-period': 500, 'ping-period': 500 };

export interface PrimaryChange {
  primary: TopologyNode;
  /** From the call (failover) or from waitForPrimaryChange's start. */
  ms: number;
}

export interface Topology {
  masterName: string;
  /** The first primary (after a failover ask currentPrimary()). */
  primary: TopologyNode;
  /** The first replicas. */
  replicas: TopologyNode[];
  /** primary then replicas. */
  dataNodes: TopologyNode[];
  sentinels: TopologyNode[];
  /** redis-sentinel://[:password@]127.0.0.1:p1,127.0.0.1:p2,...#masterName (rediss-sentinel:// with tls) */
  sentinelUrl: string;
  /** With tls: the CA (PEM) of every node's certificate, for REDIS_TLS_CA. */
  ca: string | undefined;
  /** With tls: the certificate files (caFile for REDIS_TLS_CA). */
  certs: CertFiles | undefined;
  startupMs: number;
  /** Queries on the sentinels (who is primary, do they agree, what do they see). */
  view: SentinelView;
  nodeByPort(port: number): TopologyNode | undefined;
  /** The primary per the first sentinel that answers (SENTINEL get-master-addr-by-name). */
  currentPrimary(): Promise<{ host: string; port: number; node: TopologyNode | undefined }>;
  /** settled(), SENTINEL FAILOVER, then waitForPrimaryChange; ms is measured from the command. */
  failover(timeoutMs?: number): Promise<PrimaryChange & { previous: TopologyNode }>;
  /** Until every answering sentinel names one primary other than oldPort and that node says ROLE master. */
  waitForPrimaryChange(oldPort: number, timeoutMs?: number): Promise<PrimaryChange>;
  /** Until the node is a replica of the current primary with its link up (and sentinels see it healthy). */
  waitForReplica(node: TopologyNode, timeoutMs?: number): Promise<void>;
  /** Until sentinels agree, every answering data node is linked, and every sentinel sees every answering node. */
  settled(timeoutMs?: number): Promise<void>;
  /** Starts a killed node again on the same port and dir. */
  restart(node: TopologyNode): Promise<TopologyNode>;
  /** Kills everything and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

export async function startTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const t0 = performance.now();
  const tlsUnsupported = opts.tls ? await redisTlsUnsupported() : undefined;
  if (tlsUnsupported) throw new Error(tlsUnsupported);
  const nReplicas = opts.replicas ?? 2;
  const nSentinels = opts.sentinels ?? 3;
  const masterName = opts.masterName ?? 'conveyor';
  const timers = { ...FAST_SENTINEL_TIMERS, ...opts.sentinelTimers };
  const root = mkdtempSync(join(tmpdir(), 'conveyor-topology-'));
  removeOnExit(root);
  const nodeDir = (name: string) => {
    const d = join(root, name);
    mkdirSync(d);
    return d;
  };

  const ports = await Promise.all(Array.from({ length: 1 + nReplicas + nSentinels }, () => freePort()));
  const dataPorts = ports.slice(0, 1 + nReplicas);
  const sentinelPorts = ports.slice(1 + nReplicas);
  const primaryPort = dataPorts[0]!;
  const ids = sentinelPorts.map(() => sentinelId());
  const aofArgs = opts.aof ? ['--appendonly', 'yes', '--appendfsync', opts.aof === 'always' ? 'always' : 'everysec'] : [];
  const common = { password: opts.password, aclUsers: opts.aclUsers, tls: opts.tls, hostnames: opts.hostnames };
  let certs: CertFiles | undefined;
  if (opts.tls) {
    certs = await makeCerts(nodeDir('certs')).catch((err: Error) => {
      rmSync(root, { recursive: true, force: true });
      throw err;
    });
  }
  const tls = certs && { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile, ca: certs.ca };

  const dataNodes: TopologyNode[] = [];
  const sentinels: TopologyNode[] = [];
  const startData = async (i: number) => {
    const port = dataPorts[i]!;
    const dir = nodeDir(`redis-${i}`);
    const configFile = writeDataNodeConf({ dir, replicaOf: i === 0 ? undefined : primaryPort, ...common });
    const o = { port, dir, configFile, password: opts.password, args: aofArgs, tls };
    dataNodes[i] = new TopologyNode(`redis-${i}`, 'data', o, await startRedis(o));
  };
  const startSentinel = async (i: number) => {
    const port = sentinelPorts[i]!;
    const dir = nodeDir(`sentinel-${i}`);
    const configFile = writeSentinelConf({
      dir,
      myId: ids[i]!,
      masterName,
      primaryPort,
      quorum: opts.quorum ?? Math.floor(nSentinels / 2) + 1,
      downAfterMs: opts.downAfterMs ?? 1000,
      failoverTimeoutMs: opts.failoverTimeoutMs ?? 5000,
      parallelSyncs: opts.parallelSyncs ?? 1,
      replicaPorts: dataPorts.slice(1),
      peers: sentinelPorts.flatMap((p, j) => (j === i ? [] : [{ port: p, id: ids[j]! }])),
      ...common,
    });
    const o = { port, dir, configFile, sentinel: true, password: opts.password, tls };
    const node = new TopologyNode(`sentinel-${i}`, 'sentinel', o, await startRedis(o));
    sentinels[i] = node;
    await applyTimers(node);
  };
  const applyTimers = async (s: TopologyNode) => {
    const flat = Object.entries(timers).flatMap(([k, v]) => [k, v]);
    if (flat.length > 0) await s.call('SENTINEL', 'DEBUG', ...flat);
  };

  const view = new SentinelView(sentinels, masterName);
  let stopped = false;
  const all = () => [...dataNodes, ...sentinels].filter((n) => n !== undefined);
  const self: Topology = {
    masterName,
    get primary() {
      return dataNodes[0]!;
    },
    get replicas() {
      return dataNodes.slice(1);
    },
    dataNodes,
    sentinels,
    ca: certs?.ca,
    certs,
    sentinelUrl:
      `${opts.tls ? 'rediss' : 'redis'}-sentinel://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}` +
      `${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}#${encodeURIComponent(masterName)}`,
    startupMs: 0,
    view,
    nodeByPort: (port) => all().find((n) => n.port === port),

    async currentPrimary() {
      for (const s of view.answering()) {
        const addr = await view.masterAddr(s).catch(() => undefined);
        if (addr) return { ...addr, node: self.nodeByPort(addr.port) };
      }
      throw new Error('no sentinel answered SENTINEL get-master-addr-by-name');
    },

    async waitForPrimaryChange(oldPort, timeoutMs = 30_000) {
      const start = performance.now();
      const primary = await waitFor(`the sentinels to agree on a primary other than port ${oldPort}`, async () => {
        const port = await view.agreedPrimaryPort();
        if (port === undefined || port === oldPort) return undefined;
        const node = self.nodeByPort(port);
        if (!node) throw new Error(`sentinels name port ${port}, not a node of this topology`);
        return (await node.role()) === 'master' ? node : undefined;
      }, { timeoutMs, intervalMs: 50 });
      return { primary, ms: Math.round(performance.now() - start) };
    },

    async failover(timeoutMs = 30_000) {
      // A previous failover may still be reconfiguring replicas (the sentinels
      // answer INPROG until it is done): start from a settled topology.
      await self.settled(timeoutMs);
      const before = await self.currentPrimary();
      const start = performance.now();
      // INPROG / NOGOODSLAVE (no fresh INFO from a replica yet) clear within a second or two: retry.
      await waitFor('a sentinel to accept SENTINEL FAILOVER', async () => {
        const s = view.answering()[0];
        if (!s) throw new Error('no sentinel is answering');
        await s.call('SENTINEL', 'FAILOVER', masterName);
        return true;
      }, { timeoutMs: 10_000, intervalMs: 100 });
      const { primary } = await self.waitForPrimaryChange(before.port, timeoutMs);
      if (!before.node) throw new Error(`the old primary (port ${before.port}) is not a node of this topology`);
      return { primary, previous: before.node, ms: Math.round(performance.now() - start) };
    },

    async waitForReplica(node, timeoutMs = 30_000) {
      await waitFor(`${node.name} (port ${node.port}) to be a linked replica of the current primary`, async () => {
        const primaryPort = await view.agreedPrimaryPort();
        const link = await node.replicaLink();
        if (!link || !link.connected || link.primaryPort !== primaryPort) return false;
        for (const s of view.answering()) if (!(await view.seesReplica(s, node))) return false;
        return true;
      }, { timeoutMs, intervalMs: 50 });
    },

    async settled(timeoutMs = 15_000) {
      await waitFor('the topology to settle (one primary, replicas linked, sentinels seeing every node)', async () => {
        const primaryPort = await view.agreedPrimaryPort();
        const primary = primaryPort === undefined ? undefined : self.nodeByPort(primaryPort);
        if (!primary || !primary.answering() || (await primary.role()) !== 'master') return false;
        const replicas = dataNodes.filter((n) => n !== primary && n.answering());
        for (const r of replicas) {
          const link = await r.replicaLink();
          if (!link?.connected || link.primaryPort !== primary.port) return false;
        }
        const live = view.answering();
        for (const s of live) if (!(await view.seesAll(s, replicas, live))) return false;
        return true;
      }, { timeoutMs, intervalMs: 25 });
    },

    async restart(node) {
      await node.restart();
      if (node.kind === 'sentinel') await applyTimers(node);
      return node;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(all().map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
      forgetDir(root);
    },
  };

  try {
    await startData(0);
    await Promise.all([
      ...dataPorts.slice(1).map((_, i) => startData(i + 1)),
      ...sentinelPorts.map((_, i) => startSentinel(i)),
    ]);
    await self.settled(opts.readyTimeoutMs ?? 15_000);
  } catch (err) {
    await self.stop();
    throw err;
  }
  self.startupMs = Math.round(performance.now() - t0);
  return self;
}
