/**
 * Dual drain (DRAIN_REDIS_URLS): a worker process also consumes its queues on
 * other deployments until they are empty, so producers can switch to the new
 * REDIS_URL at any moment and nothing is left behind on the old one.
 *
 * One WorkerHost per (old deployment, queue), built from a copy of the config
 * whose redis is the old target: the same handlers, retries, dead letters and
 * graceful stop as the main host. A queue whose old side held nothing
 * (waiting, delayed, active) for `idleMs` stops being drained, and is drained
 * again if jobs turn up there later. Jobs active on the old side finish there.
 */
import type { Config } from '../config/config.ts';
import type { RedisTarget } from '../config/redis-url.ts';
import type { Logger } from '../log.ts';
import { closeRedis, createRedis, type RedisConnection } from '../redis/connections.ts';
import { Inspector } from '../queue/inspector.ts';
import { QueueSet } from '../queue/queue-set.ts';
import type { HandlerMap } from '../runtime/handler.ts';
import type { Service } from '../runtime/service.ts';
import { WorkerHost } from '../runtime/worker-host.ts';

export interface DualDrainOptions {
  config: Readonly<Config>;
  handlers: HandlerMap;
  logger: Logger;
  /** Default: config.queues. */
  queues?: readonly string[];
  /** How long a queue's old side must stay empty before its draining stops (default 30 s). */
  idleMs?: number;
  /** How often the old sides are counted (default 5 s). */
  checkMs?: number;
}

interface Drained {
  target: RedisTarget;
  queue: string;
  host: WorkerHost | undefined;
  emptySince: number | undefined;
}

export class DualDrain implements Service {
  private readonly opts: DualDrainOptions;
  private readonly log: Logger;
  private readonly drains: Drained[] = [];
  private readonly inspectors = new Map<RedisTarget, { conn: RedisConnection; queues: QueueSet; inspector: Inspector }>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;

  constructor(opts: DualDrainOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ drain: true });
  }

  async start(): Promise<void> {
    const { config } = this.opts;
    for (const target of config.drainRedisUrls) {
      const conn = createRedis(target, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: this.log, name: 'conveyor-drain-check' });
      const queues = new QueueSet(conn);
      this.inspectors.set(target, { conn, queues, inspector: new Inspector(queues) });
      for (const queue of this.opts.queues ?? config.queues) {
        const d: Drained = { target, queue, host: undefined, emptySince: undefined };
        this.drains.push(d);
        await this.startHost(d);
      }
    }
    this.timer = setInterval(() => void this.check(), this.opts.checkMs ?? 5000);
    this.timer.unref();
    this.log.info({ from: config.drainRedisUrls.map((t) => t.redacted), queues: this.opts.queues ?? config.queues }, 'draining other deployments too');
  }

  private async startHost(d: Drained): Promise<void> {
    const { config, handlers, logger } = this.opts;
    // Frozen like the original; nothing else changes (handlers, retries, grace period).
    const variant: Readonly<Config> = Object.freeze({ ...config, redis: d.target, drainRedisUrls: [] });
    d.host = new WorkerHost({ config: variant, handlers, logger: logger.child({ drainFrom: d.target.redacted }), queues: [d.queue] });
    d.emptySince = undefined;
    await d.host.start();
  }

  /** Counts what each old queue still holds; stops or restarts its host accordingly. */
  private check(): Promise<void> {
    this.checking ??= this.doCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async doCheck(): Promise<void> {
    const idleMs = this.opts.idleMs ?? 30_000;
    for (const d of this.drains) {
      if (this.stopped) return;
      let left: number;
      try {
        const { counts } = await this.inspectors.get(d.target)!.inspector.summary(d.queue);
        left = counts.waiting + counts.active + counts.delayed;
      } catch (err) {
        this.log.warn({ from: d.target.redacted, queue: d.queue, err: String(err) }, 'could not count the old side; next time');
        continue;
      }
      const now = Date.now();
      if (left > 0) {
        d.emptySince = undefined;
        if (!d.host) {
          this.log.warn({ from: d.target.redacted, queue: d.queue, jobs: left }, 'jobs turned up on a drained deployment (a producer still writes there?); draining it again');
          await this.startHost(d);
        }
        continue;
      }
      d.emptySince ??= now;
      if (d.host && now - d.emptySince >= idleMs) {
        const host = d.host;
        d.host = undefined;
        await host.stop();
        this.log.info({ from: d.target.redacted, queue: d.queue, processed: host.stats.processed, emptyForMs: now - d.emptySince }, 'old deployment drained for this queue: stopped consuming it there');
        if (this.drains.every((x) => !x.host)) this.log.info({ from: this.opts.config.drainRedisUrls.map((t) => t.redacted) }, 'dual drain complete: every queue is empty on the old deployments (DRAIN_REDIS_URLS can be removed)');
      }
    }
  }

  /** Queues still drained, as "url queue" (tests, logs). */
  get draining(): string[] {
    return this.drains.filter((d) => d.host).map((d) => `${d.target.redacted} ${d.queue}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.checking;
    await Promise.all(this.drains.map((d) => d.host?.stop()));
    for (const { conn, queues } of this.inspectors.values()) {
      await queues.close();
      await closeRedis(conn);
    }
  }
}
