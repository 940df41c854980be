/** Small builders shared by tests: config for a spawned Redis, unique queue names, a connected QueueSet. */
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../config/config.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import type { Producer } from '../queue/producer.ts';
import type { Inspector } from '../queue/inspector.ts';
import { silentLogger } from '../log.ts';
import { coreOf, openConveyor, type Conveyor } from '../conveyor.ts';
import { startRedis, type RedisProcess } from './redis-process.ts';

/** The environment of a test process: the spawned Redis, short locks (a killed worker's jobs come back fast). */
export function testEnv(redisUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: redisUrl, LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000', ...env };
}

export function testConfig(redisUrl: string, env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig(testEnv(redisUrl, env));
}

export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface Core {
  conveyor: Conveyor;
  conn: RedisConnection;
  queues: QueueSet;
  producer: Producer;
  inspector: Inspector;
  close(): Promise<void>;
}

/** A Conveyor (as an app connects one) and the parts behind it, on its own connection (closed by close()). */
export async function openCore(config: Readonly<Config>): Promise<Core> {
  const conveyor = await openConveyor(config, { logger: silentLogger, name: 'conveyor-test' });
  const core = coreOf(conveyor);
  return {
    conveyor,
    conn: core.conn,
    queues: core.queues,
    producer: core.producer,
    inspector: core.inspector,
    close: () => conveyor.close(),
  };
}

/** The usual start of a test file: a fresh redis-server on a free port and a Core on it. */
export async function redisAndCore(env: Record<string, string> = {}): Promise<{ redis: RedisProcess; core: Core }> {
  const redis = await startRedis();
  try {
    return { redis, core: await openCore(testConfig(redis.url, env)) };
  } catch (err) {
    await redis.stop();
    throw err;
  }
}

/** Undoes redisAndCore (either may be missing when the start failed). */
export async function closeRedisAndCore(redis: RedisProcess | undefined, core: Core | undefined): Promise<void> {
  await core?.close();
  await redis?.stop();
}
