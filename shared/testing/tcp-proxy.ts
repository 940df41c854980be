/**
 * A TCP proxy on a free 127.0.0.1 port that stands in for a managed Redis
 * primary endpoint (an ElastiCache / Memorystore DNS name): clients connect to
 * the proxy; a test moves the endpoint to another node (switchTo, like the DNS
 * record moving on failover), drops connections, freezes traffic (a primary
 * that stops answering but keeps its socket open) or makes the endpoint
 * unreachable for a while (refuse / accept).
 */
import { createServer, Socket, type Server } from 'node:net';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface ProxyStats {
  /** Client connections accepted and forwarded, ever. */
  accepted: number;
  /** Client connections open now. */
  active: number;
  /** Client connections reset on arrival while refusing (mode 'reset'). */
  refused: number;
  /** Connections forwarded per backend, keyed "host:port". */
  byTarget: Record<string, number>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes held back while frozen, flushed by thaw(). */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** redis://[:password@]127.0.0.1:port — the "endpoint" clients are given. */
  url(password?: string): string;
  target(): ProxyTarget;
  /** New connections go to target; with dropExisting, open ones are closed too (as a failover would). */
  switchTo(target: ProxyTarget, opts?: { dropExisting?: boolean }): void;
  /** Closes every open connection ('reset' sends RST instead of FIN). */
  dropConnections(how?: 'close' | 'reset'): void;
  /** Stops forwarding bytes both ways, sockets stay open; new connections are accepted but frozen too. */
  freeze(): void;
  /** Forwards again, including what was held back. */
  thaw(): void;
  /**
   * The endpoint becomes unreachable: 'close' stops listening (ECONNREFUSED),
   * 'reset' accepts and resets at once (ECONNRESET). Open connections are
   * dropped unless keepExisting.
   */
  refuse(opts?: { mode?: 'close' | 'reset'; keepExisting?: boolean }): Promise<void>;
  /** Reachable again (listens again on the same port). */
  accept(): Promise<void>;
  stats(): ProxyStats;
  stop(): Promise<void>;
}

export async function startProxy(opts: { target: ProxyTarget; port?: number }): Promise<TcpProxy> {
  const port = opts.port ?? (await freePort());
  let target = { ...opts.target };
  let frozen = false;
  let refusing: 'close' | 'reset' | undefined;
  let server: Server | undefined;
  const pairs = new Set<Pair>();
  const stats: ProxyStats = { accepted: 0, active: 0, refused: 0, byTarget: {} };

  const forward = (pair: Pair, from: 'client' | 'upstream', chunk: Buffer) => {
    const to = from === 'client' ? pair.upstream : pair.client;
    const held = from === 'client' ? pair.toUpstream : pair.toClient;
    if (frozen || held.length > 0 || (to === pair.upstream && to.connecting)) held.push(chunk);
    else to.write(chunk);
  };
  const flush = (pair: Pair) => {
    if (frozen) return;
    if (!pair.upstream.connecting) for (const b of pair.toUpstream.splice(0)) pair.upstream.write(b);
    for (const b of pair.toClient.splice(0)) pair.client.write(b);
  };
  const close = (pair: Pair, how: 'close' | 'reset' = 'close') => {
    if (!pairs.delete(pair)) return;
    stats.active = pairs.size;
    if (how === 'reset' && !pair.client.destroyed) pair.client.resetAndDestroy();
    else pair.client.destroy();
    pair.upstream.destroy();
  };

  const onConnection = (client: Socket) => {
    if (refusing === 'reset') {
      stats.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    const pair: Pair = { client, upstream, toUpstream: [], toClient: [] };
    pairs.add(pair);
    stats.accepted++;
    stats.active = pairs.size;
    const key = `${target.host}:${target.port}`;
    stats.byTarget[key] = (stats.byTarget[key] ?? 0) + 1;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (b: Buffer) => forward(pair, 'client', b));
    upstream.on('data', (b: Buffer) => forward(pair, 'upstream', b));
    upstream.on('connect', () => flush(pair));
    // Either side ending ends the pair: the backend going away is a dropped connection to the client.
    for (const s of [client, upstream]) {
      s.on('error', () => close(pair));
      s.on('close', () => close(pair));
    }
    upstream.connect(target.port, target.host);
  };

  const listenOnce = (srv: Server) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        resolve();
      });
    });
  const listen = async () => {
    const srv = createServer({ noDelay: true }, onConnection);
    // Right after refuse() the old listening socket may not be released yet.
    await waitFor(`proxy to listen again on port ${port}`, () => listenOnce(srv).then(() => true), { timeoutMs: 2000, intervalMs: 20 });
    server = srv;
  };
  /** Stops listening. close()'s callback waits for every connection to end, so with open ones we only wait a turn. */
  const unlisten = async (waitForConnections: boolean) => {
    const srv = server;
    server = undefined;
    if (!srv) return;
    const closed = new Promise<void>((r) => srv.close(() => r()));
    await (waitForConnections ? closed : new Promise((r) => setImmediate(r)));
  };
  const dropAll = (how: 'close' | 'reset' = 'close') => {
    for (const p of [...pairs]) close(p, how);
  };

  await listen();
  return {
    host: '127.0.0.1',
    port,
    url: (password) => `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`,
    target: () => ({ ...target }),
    switchTo(next, o = {}) {
      target = { ...next };
      if (o.dropExisting) dropAll();
    },
    dropConnections: dropAll,
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const p of pairs) flush(p);
    },
    async refuse(o = {}) {
      refusing = o.mode ?? 'close';
      if (!o.keepExisting) dropAll(refusing === 'reset' ? 'reset' : 'close');
      if (refusing === 'close') await unlisten(false);
    },
    async accept() {
      refusing = undefined;
      if (!server) await listen();
    },
    stats: () => ({ ...stats, byTarget: { ...stats.byTarget } }),
    async stop() {
      refusing = 'close';
      dropAll();
      await unlisten(true);
    },
  };
}
