/** Small builders shared by tests: config for a spawned Redis, unique queue names, a connected QueueSet. */
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../config/config.ts';
import { createRedis, closeRedis, waitUntilReady, type RedisConnection } from '../redis/connections.ts';
import { QueueSet } from '../queue/queue-set.ts';
import { Producer } from '../queue/producer.ts';
import { Inspector } from '../queue/inspector.ts';
import { silentLogger } from '../log.ts';
import { startRedis, type RedisProcess } from './redis-process.ts';

export function testConfig(redisUrl: string, env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({ REDIS_URL: redisUrl, LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000', ...env });
}

export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface Core {
  conn: RedisConnection;
  queues: QueueSet;
  producer: Producer;
  inspector: Inspector;
  close(): Promise<void>;
}

/** A producer and inspector on their own connection (closed by close()). */
export async function openCore(config: Readonly<Config>): Promise<Core> {
  const conn = createRedis(config.redis, { role: 'producer', logger: silentLogger });
  await waitUntilReady(conn, config.redis.redacted);
  const queues = new QueueSet(conn);
  return {
    conn,
    queues,
    producer: new Producer(queues, { maxPayloadBytes: config.maxPayloadBytes, minReplicas: config.enqueueMinReplicas, redisLabel: config.redis.redacted }),
    inspector: new Inspector(queues),
    async close() {
      await queues.close();
      await closeRedis(conn);
    },
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
