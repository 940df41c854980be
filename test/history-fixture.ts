/** What the history tests share: a Redis, a Core, a database of their own, archivers and workers on them. */
import pg from 'pg';
import { loadConfig, type HistoryConfig } from '../shared/config/config.ts';
import { coreOf } from '../shared/conveyor.ts';
import { closeRedis, type RedisConnection } from '../shared/redis/connections.ts';
import { silentLogger } from '../shared/log.ts';
import { HistoryArchiver, type ArchiverOptions } from '../shared/history/archiver.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import type { Handler } from '../shared/runtime/handler.ts';
import { testConfig, redisAndCore, closeRedisAndCore, type Core } from '../shared/testing/fixtures.ts';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { createTestDatabase, type TestDatabase } from '../shared/testing/postgres.ts';

export interface HistoryRig {
  redis: RedisProcess;
  core: Core;
  db: TestDatabase;
  /** Queries for assertions. */
  pool: pg.Pool;
  history: HistoryConfig;
  archiver(opts?: Partial<ArchiverOptions>): HistoryArchiver;
  worker(queue: string, handlers: Record<string, Handler>, env?: Record<string, string>): Promise<WorkerHost>;
  rows<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stops every archiver and worker started so far (between tests: a leader left running would keep the next test's on standby). */
  stopAll(): Promise<void>;
  close(): Promise<void>;
}

export async function historyRig(env: Record<string, string> = {}, db?: { url: string; drop(): Promise<void>; name?: string }): Promise<HistoryRig> {
  const database = (db as TestDatabase | undefined) ?? (await createTestDatabase());
  const { redis, core } = await redisAndCore();
  const history = loadConfig({ HISTORY_URL: database.url, ...env }).history!;
  const pool = new pg.Pool({ connectionString: database.url, max: 3 });
  pool.on('error', () => {});
  const archivers: HistoryArchiver[] = [];
  const conns: RedisConnection[] = [];
  const hosts: WorkerHost[] = [];
  return {
    redis,
    core,
    db: database,
    pool,
    history,
    archiver(opts = {}) {
      const conn = coreOf(core.conveyor).connect('inspector', 'conveyor-history');
      conns.push(conn);
      const a = new HistoryArchiver({ redis: conn, history, logger: silentLogger, idleMs: 20, ...opts });
      archivers.push(a);
      return a;
    },
    async worker(queue, handlers, wenv = {}) {
      const host = new WorkerHost({ config: testConfig(redis.url, { CONCURRENCY: '5', ...wenv }), handlers, logger: silentLogger, queues: [queue] });
      hosts.push(host);
      await host.start();
      return host;
    },
    async rows(sql, params = []) {
      return (await pool.query(sql, params)).rows;
    },
    async stopAll() {
      await Promise.all(hosts.splice(0).map((h) => h.stop()));
      await Promise.all(archivers.splice(0).map((a) => a.stop()));
    },
    async close() {
      await Promise.all(hosts.map((h) => h.stop()));
      await Promise.all(archivers.map((a) => a.stop()));
      await Promise.all(conns.map((c) => closeRedis(c)));
      await pool.end();
      await closeRedisAndCore(redis, core);
      await database.drop();
    },
  };
}
