/**
 * What a CLI command works with: the config (loadConfig, the same as the
 * processes, with --redis overriding REDIS_URL), and a Conveyor on it (the
 * public API, and the parts behind it) on one fail-fast connection, opened
 * on first use and closed when the command ends. The core modules are
 * loaded only then: `conveyor --help` loads no Redis client.
 */
import { loadConfig, type Config } from '../shared/config/config.ts';
import type { RedisConnection } from '../shared/redis/connections.ts';
import type { RedisTarget } from '../shared/config/redis-url.ts';
import type { QueueSet } from '../shared/queue/queue-set.ts';
import type { Producer } from '../shared/queue/producer.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import type { Schedules } from '../shared/queue/schedules.ts';
import type { Fleet } from '../shared/queue/fleet.ts';
import type { Conveyor } from '../shared/conveyor.ts';
import { Output } from './output.ts';

export interface Core {
  conveyor: Conveyor;
  conn: RedisConnection;
  queues: QueueSet;
  producer: Producer;
  inspector: Inspector;
  schedules: Schedules;
  fleet: Fleet;
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
    const { closeRedis, createRedis, waitUntilReady } = await import('../shared/redis/connections.ts');
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
    const [{ openConveyor, coreOf }, { silentLogger }] = await Promise.all([import('../shared/conveyor.ts'), import('../shared/log.ts')]);
    const conveyor = await openConveyor(config, { logger: silentLogger, name: 'conveyor-cli' });
    this.closers.push(() => conveyor.close());
    const core = coreOf(conveyor);
    return { conveyor, conn: core.conn, queues: core.queues, producer: core.producer, inspector: core.inspector, schedules: core.schedules, fleet: core.fleet };
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
