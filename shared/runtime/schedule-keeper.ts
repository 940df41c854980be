/**
 * The schedules part of a worker process: applies the SCHEDULES file at start
 * (config wins) and repairs schedulers that stopped producing, every minute.
 * It has its own producer connection (fails fast) so a slow schedule write
 * never waits behind the worker's blocking commands.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection } from '../redis/connections.ts';
import { QueueSet } from '../queue/queue-set.ts';
import { Producer } from '../queue/producer.ts';
import { Schedules } from '../queue/schedules.ts';
import { applyScheduleFile } from '../queue/schedule-file.ts';
import { startScheduleRepair } from '../queue/schedule-repair.ts';
import type { Service } from './service.ts';

const REPAIR_INTERVAL_MS = 60_000;

export class ScheduleKeeper implements Service {
  private conn: RedisConnection | undefined;
  private queues: QueueSet | undefined;
  private stopRepair: (() => void) | undefined;
  private readonly config: Readonly<Config>;
  private readonly log: Logger;

  constructor(config: Readonly<Config>, logger: Logger) {
    this.config = config;
    this.log = logger;
  }

  async start(): Promise<void> {
    const { config } = this;
    this.conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: this.log, name: 'conveyor-schedules' });
    await waitUntilReady(this.conn, config.redis.redacted);
    this.queues = new QueueSet(this.conn);
    const producer = new Producer(this.queues, { maxPayloadBytes: config.maxPayloadBytes, timeoutMs: config.redisCommandTimeoutMs, redisLabel: config.redis.redacted });
    const schedules = new Schedules(this.queues, producer, { maxPayloadBytes: config.maxPayloadBytes, logger: this.log });
    if (config.schedulesFile) {
      const r = await applyScheduleFile(schedules, config.schedulesFile, { maxPayloadBytes: config.maxPayloadBytes, logger: this.log });
      this.log.info({ applied: r.applied, removed: r.removed }, 'SCHEDULES file applied');
    }
    this.stopRepair = startScheduleRepair(schedules, this.log, REPAIR_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.stopRepair?.();
    await this.queues?.close();
    await closeRedis(this.conn);
  }
}
