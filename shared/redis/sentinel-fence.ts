/**
 * Holds enqueues back while Sentinel fails the primary over, so none is
 * acknowledged by a primary that is being replaced.
 *
 * Why: during a failover the old primary keeps accepting writes after the
 * sentinels have promoted a replica (REPLICAOF NO ONE) and until they turn it
 * into a replica of the new one (~1 s). ioredis moves to the new primary only
 * on +switch-master, at the end. A job written to the old primary in that
 * window is acknowledged and then erased when the old primary resyncs from
 * the new one (measured: 9-20 acknowledged jobs lost per SENTINEL FAILOVER at
 * 30 enqueues/s before this fence).
 *
 * How: one subscription per sentinel (per process and target) to the
 * failover events. From the first sign of a failover (+odown, +try-failover,
 * +selected-slave, ...) writes wait; the sentinel sends REPLICAOF NO ONE at
 * least one of its 100 ms ticks after +selected-slave, so writes acknowledged
 * before the fence had time to reach the replica. The fence lifts on
 * +switch-master, once the connection is on the new primary, or when the
 * failover is given up (-failover-abort-*, -odown without a failover).
 * A waiting write is still bounded by the producer's timeout (503).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { SentinelTarget } from '../config/redis-url.ts';
import type { Logger } from '../log.ts';
import { lastReadyAt } from './primary-watch.ts';

/** Events that mean "a failover is coming or under way". */
const FENCE_ON = new Set([
  '+odown', '+try-failover', '+elected-leader', '+failover-state-select-slave', '+selected-slave',
  '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion', '+promoted-slave', '+failover-state-reconf-slaves',
]);
/** Never hold writes longer than this on one sentinel's word (a lost end message must not block producers for good). */
export const MAX_FENCE_MS = 30_000;

interface SentinelState {
  odown: boolean;
  failover: boolean;
  since: number;
}

export interface FenceOptions {
  tlsCa?: string | undefined;
  logger?: Logger | undefined;
}

/** The master name an event message is about: "master <name> ..." or "... @ <name> <ip> <port>". */
function masterOf(channel: string, message: string): string | undefined {
  const parts = message.split(' ');
  if (channel === '+switch-master') return parts[0];
  const at = parts.indexOf('@');
  if (at >= 0) return parts[at + 1];
  return parts[0] === 'master' ? parts[1] : undefined;
}

/** The failover events of one target's sentinels, shared by the connections of a process. */
class SentinelEvents {
  readonly states = new Map<number, SentinelState>();
  /** The last +switch-master: the new primary's port and when we heard it. */
  switched: { port: number; at: number } | undefined;
  private readonly clients: Redis[] = [];
  private readonly waiters = new Set<() => void>();
  private users = 0;
  private readonly log: Logger | undefined;

  constructor(private readonly target: SentinelTarget, opts: FenceOptions, private readonly onClose: () => void) {
    this.log = opts.logger;
    const explicit = target.sentinelPassword !== undefined || target.sentinelUsername !== undefined;
    target.sentinels.forEach((s, i) => {
      const base: RedisOptions = {
        host: s.host,
        port: s.port,
        ...(explicit ? { username: target.sentinelUsername, password: target.sentinelPassword } : {}),
        ...(target.tls ? { tls: opts.tlsCa ? { ca: opts.tlsCa } : {} } : {}),
        connectionName: 'conveyor-failover-watch',
        enableReadyCheck: false,
        // Subscribed again on every 'ready' below (a refused first SUBSCRIBE is not resubscribed by ioredis).
        autoResubscribe: false,
        maxRetriesPerRequest: null,
        retryStrategy: (n: number) => Math.min(200 * n, 2000),
      };
      const client = new Redis(base);
      client.on('ready', () => {
        client.subscribe(...FENCE_ON, '+switch-master', '-odown').catch(() => {});
        client.psubscribe('-failover-abort-*').catch(() => {});
      });
      client.on('error', (err: Error) => {
        // Sentinels without a password of their own refuse one (and the reverse):
        // like sentinel-connector.ts, fall back to the URL's credentials on NOAUTH.
        if (!explicit && /NOAUTH/.test(err.message) && target.password !== undefined && !client.options.password) {
          client.options.username = target.username;
          client.options.password = target.password;
        }
      });
      client.on('message', (channel: string, message: string) => this.onEvent(i, channel, message));
      client.on('pmessage', (_p: string, channel: string, message: string) => this.onEvent(i, channel, message));
      this.clients.push(client);
    });
  }

  acquire(): void {
    this.users++;
  }

  release(): void {
    if (--this.users > 0) return;
    for (const c of this.clients) c.disconnect();
    for (const w of this.waiters) w();
    this.onClose();
  }

  /** True while any sentinel reports a failover coming or under way (and not for longer than MAX_FENCE_MS). */
  fenced(now = Date.now()): boolean {
    for (const s of this.states.values()) if ((s.odown || s.failover) && now - s.since < MAX_FENCE_MS) return true;
    return false;
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
    if (masterOf(channel, message) !== this.target.masterName) return;
    const now = Date.now();
    const state = this.states.get(sentinel) ?? { odown: false, failover: false, since: now };
    if (channel === '+switch-master') {
      const port = Number(message.split(' ')[4]);
      this.switched = { port, at: now };
      this.states.clear();
      this.log?.info({ master: this.target.masterName, to: message.split(' ').slice(3).join(':') }, 'sentinel: the primary moved; enqueues go on there');
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

const shared = new Map<string, SentinelEvents>();
const attached = new WeakMap<Redis, SentinelEvents>();

/** Called by createRedis for producer connections to a Sentinel target; released when the connection ends. */
export function attachFence(conn: Redis, target: SentinelTarget, opts: FenceOptions): void {
  const key = `${target.redacted}|${target.masterName}`;
  let events = shared.get(key);
  if (!events) {
    events = new SentinelEvents(target, opts, () => shared.delete(key));
    shared.set(key, events);
  }
  events.acquire();
  attached.set(conn, events);
  const ev = events;
  conn.once('end', () => ev.release());
}

/** Is this connection on the primary the sentinels last switched to (or did it reconnect since)? */
function onNewPrimary(conn: Redis, switched: { port: number; at: number }): boolean {
  if (conn.status !== 'ready') return false;
  return conn.stream?.remotePort === switched.port || lastReadyAt(conn) >= switched.at;
}

/** Per connection: the switch we already forced it to follow. */
const forced = new WeakMap<Redis, number>();
/** ioredis' own failover detector reconnects on +switch-master; if it has not within this, we do. */
const FOLLOW_GRACE_MS = 1000;

/**
 * Resolves when a write on this connection may go: at once, unless a
 * Sentinel failover is under way (then when it is over and this connection
 * reached the new primary). Callers bound the wait with their own timeout.
 */
export async function whenWritable(conn: Redis | unknown): Promise<void> {
  const events = attached.get(conn as Redis);
  if (!events) return;
  const c = conn as Redis;
  for (;;) {
    if (!events.fenced()) {
      const sw = events.switched;
      // Past a switch, stay fenced until this connection has left the old primary.
      if (!sw || onNewPrimary(c, sw) || Date.now() - sw.at > MAX_FENCE_MS) return;
      if (c.status === 'ready' && Date.now() - sw.at > FOLLOW_GRACE_MS && forced.get(c) !== sw.at) {
        forced.set(c, sw.at);
        c.disconnect(true);
      }
    }
    await events.changed(50);
  }
}
