/**
 * The interop bridge (a Service): moves Resque- and Sidekiq-format jobs that
 * other programs push to Redis lists into Conveyor queues.
 *
 * Per source list, one loop on its own blocking connection:
 *   BLMOVE source → this bridge's processing list, then handleItem (enqueue
 *   with a stable id, then LREM). Sidekiq's schedule zset is polled: a script
 *   moves its entries (score kept) into a processing list the same way.
 * Sources: the queues named in `resque:queues` / `queues` (or INTEROP_QUEUES),
 * looked up again every few seconds. Items a dead bridge left in its
 * processing lists are replayed at start and at every heartbeat (registry).
 *
 * Standalone or Sentinel Redis only: the foreign keys carry no hash tag, so
 * in a Cluster the source list and the processing list may live on different
 * shards and BLMOVE between them is refused (CROSSSLOT).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/config.ts';
import { ConveyorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isValidQueueName } from '../queue/names.ts';
import { Producer } from '../queue/producer.ts';
import { QueueSet } from '../queue/queue-set.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection } from '../redis/connections.ts';
import type { Core } from '../core.ts';
import type { Service } from '../runtime/service.ts';
import { BridgeRegistry } from './bridge-registry.ts';
import { foreignKeys, interopKeys, sourceKey, type InteropFormat } from './interop-keys.ts';
import { handleItem, type Outcome } from './item-handler.ts';
import { moveScheduled, SCHEDULE_BATCH } from './sidekiq-schedule.ts';

export interface BridgeHooks {
  /** Runs after an item was moved into the processing list, before anything else (crash tests). */
  afterMove?: (item: string, source: string) => Promise<void>;
  /** Runs after the enqueue, before the item leaves the processing list (crash tests). */
  afterEnqueue?: (item: string, source: string) => Promise<void>;
}

export interface BridgeOptions {
  config: Readonly<Config>;
  logger: Logger;
  /** Default: config.interop. */
  formats?: readonly InteropFormat[];
  /** Default: config.interopQueues; empty = every queue the foreign systems' sets name. */
  queues?: readonly string[];
  /** A bridge silent for this long is presumed dead and its items are replayed (default 30 s). */
  leaseMs?: number;
  heartbeatMs?: number;
  /** How often the foreign queue sets are read again (default 5 s). */
  discoverMs?: number;
  /** How often Sidekiq's schedule zset is polled (default 1 s). */
  schedulePollMs?: number;
  hooks?: BridgeHooks;
  /** The process's Conveyor core: the bridge enqueues through its producer, on its connection (left open at stop). Without it the bridge opens its own. */
  core?: Pick<Core, 'conn' | 'producer'>;
}

export interface BridgeStats {
  enqueued: number;
  duplicates: number;
  rejected: number;
}

/** BLMOVE waits this long, so stop() is noticed within it. */
const BLOCK_SECONDS = 1;
export class InteropBridge implements Service {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly stats: BridgeStats = { enqueued: 0, duplicates: 0, rejected: 0 };
  private readonly opts: BridgeOptions;
  private readonly log: Logger;
  private readonly formats: readonly InteropFormat[];
  private conn: RedisConnection | undefined;
  private queueSet: QueueSet | undefined;
  private producer: Producer | undefined;
  private registry: BridgeRegistry | undefined;
  private readonly loops = new Map<string, { done: Promise<void>; blocking: RedisConnection }>();
  private readonly warned = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stopSignal = new AbortController();
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(opts: BridgeOptions) {
    this.opts = opts;
    this.formats = opts.formats ?? opts.config.interop;
    this.log = opts.logger.child({ bridge: this.id });
  }

  private get leaseMs(): number {
    return this.opts.leaseMs ?? 30_000;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`InteropBridge.start() called in state ${this.state}`);
    const { config } = this.opts;
    if (config.redis.kind === 'cluster') {
      throw new ConveyorError('CONFIG_INVALID', 'INTEROP needs a standalone or Sentinel Redis: Resque and Sidekiq keys carry no hash tag, so in a Cluster they cannot be moved atomically into a processing list. Unset INTEROP, or run the bridge against the Redis your Ruby producers use.', { variable: 'INTEROP' });
    }
    this.state = 'running';
    if (this.opts.core) {
      this.conn = this.opts.core.conn;
      this.producer = this.opts.core.producer;
    } else {
      this.conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: this.log, name: 'conveyor-interop' });
      await waitUntilReady(this.conn, config.redis.redacted);
      this.queueSet = new QueueSet(this.conn);
      this.producer = new Producer(this.queueSet, { maxPayloadBytes: config.maxPayloadBytes, minReplicas: config.enqueueMinReplicas, waitTimeoutMs: config.enqueueWaitTimeoutMs, timeoutMs: config.redisCommandTimeoutMs, redisLabel: config.redis.redacted });
    }
    this.registry = new BridgeRegistry(this.conn, this.id);
    await this.registry.heartbeat([]);
    await this.recoverOrphans();
    await this.discover();
    this.every(this.opts.heartbeatMs ?? 5000, () => this.beat());
    this.every(this.opts.discoverMs ?? 5000, () => this.discover());
    if (this.formats.includes('sidekiq')) this.startLoop(foreignKeys.sidekiqSchedule);
    this.log.info({ formats: this.formats, queues: this.opts.queues ?? this.opts.config.interopQueues, sources: [...this.loops.keys()] }, 'interop bridge started');
  }

  /** The source keys being moved now. */
  get sources(): string[] {
    return [...this.loops.keys()];
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn().catch((err: unknown) => this.log.warn({ err: String(err) }, 'interop bridge housekeeping failed; next time')), ms);
    t.unref();
    this.timers.push(t);
  }

  private async beat(): Promise<void> {
    if (await this.registry!.heartbeat(this.loops.keys())) {
      this.log.warn({ leaseMs: this.leaseMs }, 'this bridge was presumed dead (no heartbeat within the lease) and has registered again');
    }
    await this.recoverOrphans();
  }

  private async recoverOrphans(): Promise<void> {
    for (const orphan of await this.registry!.orphans(this.leaseMs)) {
      const outcomes = await this.registry!.recover(orphan, this.producer!, this.leaseMs, this.log);
      if (outcomes) {
        for (const o of outcomes) this.count(o);
        this.log.info({ deadBridge: orphan, replayed: outcomes.length }, 'recovered the processing lists of a stopped bridge');
      }
    }
  }

  /** Reads the foreign queue sets and starts a loop for each new source. */
  private async discover(): Promise<void> {
    const wanted = this.opts.queues ?? this.opts.config.interopQueues;
    for (const format of this.formats) {
      const names = wanted.length > 0 ? wanted : await this.conn!.smembers(format === 'resque' ? foreignKeys.resqueQueues : foreignKeys.sidekiqQueues);
      for (const name of names) {
        const key = sourceKey(format, name);
        if (this.loops.has(key)) continue;
        if (!isValidQueueName(name)) {
          if (!this.warned.has(key)) this.log.warn({ source: key }, 'not moving this queue: its name is not a valid Conveyor queue name (1-64 of A-Z a-z 0-9 . _ -); its jobs stay where they are');
          this.warned.add(key);
          continue;
        }
        this.startLoop(key);
      }
    }
  }

  private startLoop(key: string): void {
    if (this.state !== 'running') return;
    const { config } = this.opts;
    const blocking = createRedis(config.redis, { role: 'worker', tlsCa: config.redisTlsCa, logger: this.log, name: 'conveyor-interop-blocking' });
    const done = (key === foreignKeys.sidekiqSchedule ? this.pollSchedule(blocking) : this.moveList(key, blocking)).catch((err: unknown) => {
      this.log.error({ source: key, err: String(err) }, 'interop loop ended with an error');
    });
    this.loops.set(key, { done, blocking });
  }

  /** The loop of one source list. Resque producers RPUSH (take LEFT); Sidekiq producers LPUSH (take RIGHT). */
  private async moveList(key: string, blocking: RedisConnection): Promise<void> {
    await this.registry!.addSource(key);
    const processing = interopKeys.processing(this.id, key);
    const fromLeft = key.startsWith('resque:');
    let failures = 0;
    while (this.state === 'running') {
      try {
        // After a failure the item is still in the processing list: handle it first.
        if (failures > 0) await this.drain(key);
        const item = fromLeft ? await blocking.blmove(key, processing, 'LEFT', 'LEFT', BLOCK_SECONDS) : await blocking.blmove(key, processing, 'RIGHT', 'LEFT', BLOCK_SECONDS);
        if (item !== null) {
          await this.opts.hooks?.afterMove?.(item, key);
          this.count((await this.handle(key, item)).outcome);
        }
        failures = 0;
      } catch (err) {
        failures = await this.backOff(key, err, failures);
      }
    }
  }

  /** Sidekiq's schedule zset: move a batch (score kept), handle it, wait, again. */
  private async pollSchedule(blocking: RedisConnection): Promise<void> {
    const key = foreignKeys.sidekiqSchedule;
    await this.registry!.addSource(key);
    const wanted = this.opts.queues ?? this.opts.config.interopQueues;
    let failures = 0;
    while (this.state === 'running') {
      try {
        const moved = await moveScheduled(blocking, interopKeys.processing(this.id, key), wanted);
        if (moved > 0 && this.opts.hooks?.afterMove) await this.opts.hooks.afterMove('', key);
        await this.drain(key);
        failures = 0;
        if (moved < SCHEDULE_BATCH) await sleep(this.opts.schedulePollMs ?? 1000, undefined, { signal: this.stopSignal.signal }).catch(() => {});
      } catch (err) {
        failures = await this.backOff(key, err, failures);
      }
    }
  }

  /** Handles every item in this bridge's processing list of a source, oldest first. */
  private async drain(key: string): Promise<void> {
    const items = await this.conn!.lrange(interopKeys.processing(this.id, key), 0, -1);
    for (const item of items.reverse()) this.count((await this.handle(key, item)).outcome);
  }

  private async handle(source: string, item: string) {
    const r = await handleItem({ conn: this.conn!, producer: this.producer!, owner: this.id, by: this.id, source, afterEnqueue: this.opts.hooks?.afterEnqueue }, item);
    if (r.outcome === 'rejected') this.log.warn({ source, reason: r.reason, rejectedList: interopKeys.rejected }, 'interop payload rejected');
    else this.log.debug({ source, jobId: r.id, outcome: r.outcome }, 'interop job moved');
    return r;
  }

  private count(o: Outcome): void {
    if (o === 'enqueued') this.stats.enqueued++;
    else if (o === 'duplicate') this.stats.duplicates++;
    else this.stats.rejected++;
  }

  private async backOff(key: string, err: unknown, failures: number): Promise<number> {
    if (this.state !== 'running') return failures;
    if (failures === 0 || failures % 20 === 0) this.log.warn({ source: key, err: String(err), failures: failures + 1 }, 'interop move failed; retrying (the item stays in the processing list)');
    await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), undefined, { signal: this.stopSignal.signal }).catch(() => {});
    return failures + 1;
  }

  /** Stops moving, lets the item in hand finish, and forgets this bridge if nothing is left in its processing lists. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.stopSignal.abort();
    for (const t of this.timers) clearInterval(t);
    const loops = [...this.loops.values()];
    // A loop ends within BLOCK_SECONDS; one stuck on a lost Redis is cut off.
    const ended = await Promise.race([Promise.all(loops.map((l) => l.done)).then(() => true), sleep((BLOCK_SECONDS + 2) * 1000, false)]);
    await Promise.all(loops.map((l) => closeRedis(l.blocking)));
    if (ended) {
      const forgotten = await this.registry?.forget(this.id).catch(() => false);
      if (!forgotten) this.log.warn({ leaseMs: this.leaseMs }, 'items remain in this bridge\'s processing lists; a running bridge replays them once the lease has passed');
    }
    // Whoever creates a connection closes it: the core's stays open.
    if (!this.opts.core) {
      await this.queueSet?.close();
      await closeRedis(this.conn);
    }
    this.state = 'stopped';
    this.log.info(this.stats, 'interop bridge stopped');
  }
}
