/**
 * Who is bridging: every bridge heartbeats into one zset. A bridge whose
 * heartbeat is older than the lease is presumed dead (kill -9, lost host), and
 * a live bridge replays the items left in its processing lists, under a lock
 * so two survivors do not both replay them. Replays reuse the dead bridge's
 * claims, so an item already enqueued is not enqueued again.
 */
import type { Logger } from '../log.ts';
import type { Producer } from '../queue/producer.ts';
import type { RedisConnection } from '../redis/connections.ts';
import { interopKeys } from './interop-keys.ts';
import { handleItem, type Outcome } from './item-handler.ts';

// KEYS[1] lock; ARGV[1] holder. Releases the lock only if it is still ours.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class BridgeRegistry {
  private readonly conn: RedisConnection;
  readonly id: string;

  constructor(conn: RedisConnection, id: string) {
    this.conn = conn;
    this.id = id;
  }

  /** Records this bridge as alive; true when it had been presumed dead and removed meanwhile. */
  async heartbeat(sources: Iterable<string>, now = Date.now()): Promise<boolean> {
    const m = this.conn.multi().zscore(interopKeys.bridges, this.id).zadd(interopKeys.bridges, now, this.id);
    const list = [...sources];
    if (list.length > 0) m.sadd(interopKeys.sources(this.id), ...list);
    const replies = await m.exec();
    return replies?.[0]?.[1] === null;
  }

  async addSource(source: string): Promise<void> {
    await this.conn.sadd(interopKeys.sources(this.id), source);
  }

  /** Bridges whose heartbeat is older than leaseMs (never this one). */
  async orphans(leaseMs: number, now = Date.now()): Promise<string[]> {
    const ids = await this.conn.zrangebyscore(interopKeys.bridges, '-inf', now - leaseMs);
    return ids.filter((id) => id !== this.id);
  }

  /** Items left in a bridge's processing lists, by source. */
  async leftovers(bridge: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const source of await this.conn.smembers(interopKeys.sources(bridge))) {
      const items = await this.conn.lrange(interopKeys.processing(bridge, source), 0, -1);
      if (items.length > 0) out.set(source, items);
    }
    return out;
  }

  /**
   * Replays a dead bridge's processing lists and forgets it. Returns the
   * outcomes, or undefined when another bridge holds the recovery lock.
   */
  async recover(bridge: string, producer: Producer, leaseMs: number, log: Logger): Promise<Outcome[] | undefined> {
    const lock = interopKeys.recovering(bridge);
    if ((await this.conn.set(lock, this.id, 'PX', leaseMs, 'NX')) !== 'OK') return undefined;
    const outcomes: Outcome[] = [];
    try {
      for (const [source, items] of await this.leftovers(bridge)) {
        // Oldest first: LMOVE … LEFT pushed each new item at the head.
        for (const item of items.reverse()) {
          const r = await handleItem({ conn: this.conn, producer, owner: bridge, by: this.id, source }, item);
          outcomes.push(r.outcome);
          log.info({ deadBridge: bridge, source, outcome: r.outcome, jobId: r.id, reason: r.reason }, 'replayed an item a stopped bridge had moved');
        }
      }
      await this.forget(bridge);
    } finally {
      await this.conn.eval(RELEASE, 1, lock, this.id).catch(() => {});
    }
    return outcomes;
  }

  /** Removes a bridge's bookkeeping when its processing lists are empty; false (and nothing removed) otherwise. */
  async forget(bridge: string): Promise<boolean> {
    const left = await this.leftovers(bridge);
    if (left.size > 0) return false;
    const sources = await this.conn.smembers(interopKeys.sources(bridge));
    await this.conn
      .multi()
      .del(interopKeys.sources(bridge), interopKeys.claims(bridge), ...sources.map((s) => interopKeys.processing(bridge, s)))
      .zrem(interopKeys.bridges, bridge)
      .exec();
    return true;
  }
}
