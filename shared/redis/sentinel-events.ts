/**
 * Following a Sentinel failover, for every connection of the process: one
 * subscription per sentinel (per process and target) to the failover events.
 *
 * 1. Move on +switch-master. Every connection to the target (BullMQ's
 *    blocking duplicates too) that is ready on another node than the new
 *    primary drops its socket; ioredis then asks the sentinels again. This
 *    replaces ioredis' own `failoverDetector`, which calls disconnect on
 *    +switch-master whatever the connection is doing: when the message comes
 *    while the connection is asking the sentinels where the primary is (it
 *    lost the old primary a moment before: SIGKILL, crash), ioredis 6 ends the
 *    connection for good (status "end", "Connection is closed."). A worker
 *    whose connection ended fetches nothing ever again: seen in 1 of 4 chaos
 *    runs with SIGKILL of the primary. Here only ready connections are moved;
 *    one that is reconnecting asks the sentinels anyway.
 *
 * 2. Hold enqueues while the primary is being replaced (whenWritable). During
 *    a failover the old primary keeps accepting writes after the sentinels
 *    have promoted a replica (REPLICAOF NO ONE) and until they make it a
 *    replica of the new one (~1 s). A job written there is acknowledged and
 *    then erased when the old primary resyncs: 10-20 acknowledged jobs lost
 *    per SENTINEL FAILOVER at 30 enqueues/s without this. From the first sign
 *    of a failover (+odown, +try-failover, +selected-slave, ...) writes wait;
 *    a sentinel sends REPLICAOF NO ONE at least one 100 ms tick after
 *    +selected-slave, so writes acknowledged before had time to replicate.
 *    The fence lifts on +switch-master once the connection is on the new
 *    primary, or when the failover is given up (-failover-abort-*, -odown
 *    with no failover started), and never lasts longer than MAX_FENCE_MS.
 *    The producer's own timeout still bounds each wait (503).
 */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { SentinelTarget } from '../config/redis-url.ts';
import type { Logger } from '../log.ts';

/** Events that mean "a failover is coming or under way". */
const FENCE_ON = new Set([
  '+odown', '+try-failover', '+elected-leader', '+failover-state-select-slave', '+selected-slave',
  '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion', '+promoted-slave', '+failover-state-reconf-slaves',
]);
/** Never hold writes longer than this on the sentinels' word (a lost end message must not block producers for good). */
export const MAX_FENCE_MS = 30_000;
/** A connection is moved at most this often. */
const FOLLOW_EVERY_MS = 500;

interface SentinelState {
  odown: boolean;
  failover: boolean;
  since: number;
}

export interface SentinelEventsOptions {
  tlsCa?: string | undefined;
  logger?: Logger | undefined;
}

/**
 * The master an event message is about, name and port: "<name> <old ip> <old port> ..." (+switch-master),
 * "master <name> <ip> <port> ..." or "... @ <name> <ip> <port>".
 */
function masterOf(channel: string, message: string): { name: string | undefined; address: string } {
  const parts = message.split(' ');
  if (channel === '+switch-master') return { name: parts[0], address: `${parts[1]}:${parts[2]}` };
  const at = parts.indexOf('@');
  if (at >= 0) return { name: parts[at + 1], address: `${parts[at + 2]}:${parts[at + 3]}` };
  return parts[0] === 'master' ? { name: parts[1], address: `${parts[2]}:${parts[3]}` } : { name: undefined, address: '' };
}

interface Switch {
  host: string;
  port: number;
  at: number;
}

/** Per connection: when it was last ready, and last moved. */
const readyAt = new WeakMap<Redis, number>();
const movedAt = new WeakMap<Redis, number>();

/**
 * Is the connection ready on the primary the sentinels switched to? ioredis
 * connects to the address they announce: an IP (the default) is compared
 * with the socket's peer; for an announced host name, a connection made
 * after the switch was pointed there by the sentinels.
 */
function onSwitchedPrimary(conn: Redis, sw: Switch): boolean {
  if (conn.status !== 'ready' || !conn.stream) return false;
  if (conn.stream.remotePort !== sw.port) return false;
  if (isIP(sw.host)) return (conn.stream.remoteAddress ?? '').replace(/^::ffff:/, '') === sw.host;
  return (readyAt.get(conn) ?? 0) >= sw.at;
}

class SentinelEvents {
  readonly members = new Set<Redis>();
  private readonly states = new Map<number, SentinelState>();
  /** The last +switch-master: the new primary and when we heard it. */
  private switched: Switch | undefined;
  private readonly clients: Redis[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly log: Logger | undefined;

  constructor(private readonly target: SentinelTarget, opts: SentinelEventsOptions) {
    this.log = opts.logger;
    const explicit = target.sentinelPassword !== undefined || target.sentinelUsername !== undefined;
    target.sentinels.forEach((s, i) => {
      const options: RedisOptions = {
        host: s.host,
        port: s.port,
        ...(explicit ? { username: target.sentinelUsername, password: target.sentinelPassword } : {}),
        ...(target.tls ? { tls: opts.tlsCa ? { ca: opts.tlsCa } : {} } : {}),
        connectionName: 'conveyor-sentinel-events',
        enableReadyCheck: false,
        // Subscribed on every 'ready' below: a refused first SUBSCRIBE is not resubscribed by ioredis.
        autoResubscribe: false,
        maxRetriesPerRequest: null,
        retryStrategy: (n: number) => Math.min(200 * n, 2000),
      };
      const client = new Redis(options);
      client.on('error', (err: Error) => {
        // As sentinel-connector.ts does: without sentinel credentials in the URL,
        // ask anonymously first and use the URL's credentials once one says NOAUTH.
        if (!explicit && /NOAUTH/.test(err.message) && target.password !== undefined && !client.options.password) {
          client.options.username = target.username;
          client.options.password = target.password;
        }
      });
      client.on('ready', () => {
        client.subscribe(...FENCE_ON, '+switch-master', '-odown').catch(() => {});
        client.psubscribe('-failover-abort-*').catch(() => {});
      });
      client.on('message', (channel: string, message: string) => this.onEvent(i, channel, message));
      client.on('pmessage', (_p: string, channel: string, message: string) => this.onEvent(i, channel, message));
      this.clients.push(client);
    });
  }

  close(): void {
    for (const c of this.clients) c.disconnect();
    for (const w of [...this.waiters]) w();
  }

  /** True while a sentinel reports a failover coming or under way (for at most MAX_FENCE_MS). */
  fenced(now = Date.now()): boolean {
    for (const s of this.states.values()) if ((s.odown || s.failover) && now - s.since < MAX_FENCE_MS) return true;
    return false;
  }

  /** Past a recent switch: is this connection on the new primary? */
  caughtUp(conn: Redis, now = Date.now()): boolean {
    const sw = this.switched;
    if (!sw || now - sw.at > MAX_FENCE_MS) return true;
    return onSwitchedPrimary(conn, sw);
  }

  /** Moves a ready connection that is not on the new primary (never one that is connecting: see above). */
  follow(conn: Redis): void {
    const sw = this.switched;
    const now = Date.now();
    if (!sw || now - sw.at > MAX_FENCE_MS || conn.status !== 'ready') return;
    if (onSwitchedPrimary(conn, sw) || now - (movedAt.get(conn) ?? 0) < FOLLOW_EVERY_MS) return;
    movedAt.set(conn, now);
    // Destroy rather than end the socket: a frozen old primary never answers
    // the FIN, and ioredis would wait its 2 s disconnectTimeout to reconnect.
    if (conn.stream) conn.stream.destroy();
    else conn.disconnect(true);
  }

  /** Resolves at the next event (or after ms). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private onEvent(sentinel: number, channel: string, message: string): void {
    const master = masterOf(channel, message);
    if (master.name !== this.target.masterName) return;
    const now = Date.now();
    // A sentinel that has not heard of the switch yet still talks about the old primary.
    const sw = this.switched;
    if (channel !== '+switch-master' && sw && now - sw.at < MAX_FENCE_MS && master.address !== `${sw.host}:${sw.port}`) return;
    const state = this.states.get(sentinel) ?? { odown: false, failover: false, since: now };
    if (channel === '+switch-master') {
      const parts = message.split(' ');
      const [host, port] = [String(parts[3]), Number(parts[4])];
      const first = !sw || sw.host !== host || sw.port !== port || now - sw.at > MAX_FENCE_MS;
      this.switched = { host, port, at: now };
      this.states.clear();
      if (first) this.log?.info({ master: this.target.masterName, to: `${parts[3]}:${parts[4]}` }, 'sentinel: the primary moved; connections follow');
      for (const m of this.members) this.follow(m);
    } else if (FENCE_ON.has(channel)) {
      if (!this.fenced(now)) this.log?.warn({ master: this.target.masterName, event: channel }, 'sentinel: failover under way; enqueues wait for the new primary');
      if (!state.odown && !state.failover) state.since = now;
      if (channel === '+odown') state.odown = true;
      else state.failover = true;
      this.states.set(sentinel, state);
    } else if (channel === '-odown') {
      state.odown = false;
      this.states.set(sentinel, state);
    } else if (channel.startsWith('-failover-abort')) {
      state.failover = false;
      this.states.set(sentinel, state);
    }
    for (const w of [...this.waiters]) w();
  }
}

const registry = new Map<string, SentinelEvents>();
const membership = new WeakMap<Redis, SentinelEvents>();

const keyOf = (target: SentinelTarget) => `${target.redacted}|${target.masterName}`;

function join(conn: Redis, target: SentinelTarget, opts: SentinelEventsOptions): void {
  const key = keyOf(target);
  let events = registry.get(key);
  if (!events) {
    events = new SentinelEvents(target, opts);
    registry.set(key, events);
  }
  events.members.add(conn);
  membership.set(conn, events);
}

/** The last member out closes the sentinel subscriptions. */
function leave(conn: Redis, target: SentinelTarget): void {
  const events = membership.get(conn);
  if (!events) return;
  membership.delete(conn);
  events.members.delete(conn);
  const key = keyOf(target);
  if (events.members.size === 0 && registry.get(key) === events) {
    registry.delete(key);
    events.close();
  }
}

/**
 * Makes a connection to a Sentinel target follow failovers (createRedis calls
 * it for its connections and their duplicates). It leaves on 'end' and on
 * disconnect() (which, on a reconnecting connection, never ends it: ioredis
 * only clears its retry timer); a connection connected again (BullMQ does so
 * with its blocking connection) joins again.
 */
export function followSentinel(conn: Redis, target: SentinelTarget, opts: SentinelEventsOptions): void {
  join(conn, target, opts);
  conn.on('end', () => leave(conn, target));
  const disconnect = conn.disconnect.bind(conn);
  conn.disconnect = (reconnect = false) => {
    if (!reconnect) leave(conn, target);
    return disconnect(reconnect);
  };
  conn.on('ready', () => {
    readyAt.set(conn, Date.now());
    const events = membership.get(conn);
    if (!events) join(conn, target, opts);
    // Ready on a node that a switch just left behind (it still said "master"): move on.
    else events.follow(conn);
  });
}

/**
 * Resolves true when a write on this connection may go: at once, unless a
 * Sentinel failover is under way (then when it is over and this connection
 * reached the new primary); false if that did not happen within timeoutMs.
 * Callers check failoverUnderWay() first: most writes never wait here.
 */
export async function whenWritable(conn: unknown, timeoutMs = Infinity): Promise<boolean> {
  const c = conn as Redis;
  const end = performance.now() + timeoutMs;
  for (;;) {
    const events = membership.get(c);
    if (!events || (!events.fenced() && events.caughtUp(c))) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    events.follow(c);
    await events.changed(Math.min(50, left));
  }
}

/** Is a Sentinel failover holding writes on this connection now? (metrics, tests) */
export function failoverUnderWay(conn: unknown): boolean {
  const events = membership.get(conn as Redis);
  return events !== undefined && (events.fenced() || !events.caughtUp(conn as Redis));
}
