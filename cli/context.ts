/**
 * What a CLI command works with: the config (loadConfig, the same as the
 * processes, with --redis overriding REDIS_URL), and the shared/ core on one
 * fail-fast connection, opened on first use and closed when the command ends.
 */
import { loadConfig, type Config } from '../shared/config/config.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection } from '../shared/redis/connections.ts';
import type { RedisTarget } from '../shared/config/redis-url.ts';
import { QueueSet } from '../shared/queue/queue-set.ts';
import { Producer } from '../shared/queue/producer.ts';
import { Inspector } from '../shared/queue/inspector.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { Output } from './output.ts';

export interface Core {
  conn: RedisConnection;
  queues: QueueSet;
  producer: Producer;
  inspector: Inspector;
  schedules: Schedules;
}

type Env = Record<string, string | undefined>;

export class CliContext {
  readonly out: Output;
  private readonly env: Env;
  /** --redis URL: overrides REDIS_URL. */
  readonly redisOverride: string | undefined;
  private loaded: Readonly<Config> | undefined;
  private core: Promise<Core> | undefined;
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(opts: { env: Env; json: boolean; redis?: string | undefined; out?: Output }) {
    this.env = opts.env;
    this.redisOverride = opts.redis;
    this.out = opts.out ?? new Output(opts.json);
  }

  get config(): Readonly<Config> {
    this.loaded ??= loadConfig(this.redisOverride ? { ...this.env, REDIS_URL: this.redisOverride } : this.env);
    return this.loaded;
  }

  /** The environment with a URL as REDIS_URL: the config of another deployment (migrate --from/--to). */
  configFor(url: string): Readonly<Config> {
    return loadConfig({ ...this.env, REDIS_URL: url });
  }

  /** A fail-fast connection to a target, closed with the context. */
  async connect(target: RedisTarget, name = 'conveyor-cli'): Promise<RedisConnection> {
    const { config } = this;
    const conn = createRedis(target, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, name });
    this.closers.push(() => closeRedis(conn));
    await waitUntilReady(conn, target.redacted);
    return conn;
  }

  /** The core objects on the configured Redis. */
  open(): Promise<Core> {
    this.core ??= this.openCore(this.config);
    return this.core;
  }

  /** The core objects on any deployment (migrate opens two). */
  async openCore(config: Readonly<Config>): Promise<Core> {
    const conn = await this.connect(config.redis);
    const queues = new QueueSet(conn);
    this.closers.push(() => queues.close());
    const producer = new Producer(queues, {
      maxPayloadBytes: config.maxPayloadBytes,
      minReplicas: config.enqueueMinReplicas,
      waitTimeoutMs: config.enqueueWaitTimeoutMs,
      timeoutMs: config.redisCommandTimeoutMs,
      redisLabel: config.redis.redacted,
    });
    return { conn, queues, producer, inspector: new Inspector(queues), schedules: new Schedules(queues, producer, { maxPayloadBytes: config.maxPayloadBytes }) };
  }

  /** Runs fn at close (before the connections close): for services a command started. */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  /** Closes what was opened, newest first. */
  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c().catch(() => {});
  }
}
