/**
 * Dashboard process: the board on DASHBOARD_PORT. Without DASHBOARD_USER /
 * DASHBOARD_PASSWORD there is no login, so it listens on 127.0.0.1 only and
 * says so.
 */
import { loadConfig, describeConfig, type Config } from '../shared/config/config.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { createRedis, closeRedis, waitUntilReady, type RedisConnection } from '../shared/redis/connections.ts';
import { QueueSet } from '../shared/queue/queue-set.ts';
import { Inspector } from '../shared/queue/inspector.ts';
import { runUntilSignalled } from '../shared/runtime/shutdown.ts';
import type { Service } from '../shared/runtime/service.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import { isConveyorError } from '../shared/errors.ts';
import { createApp } from './app.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';

class DashboardService implements Service {
  private conn: RedisConnection | undefined;
  private queues: QueueSet | undefined;
  private http: HttpService | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { config, log } = this;
    this.conn = createRedis(config.redis, { role: 'inspector', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: log, name: 'conveyor-dashboard' });
    await waitUntilReady(this.conn, config.redis.redacted);
    this.queues = new QueueSet(this.conn);
    const login = Boolean(config.dashboardUser && config.dashboardPassword) || config.dashboardReadonlyUsers.length > 0;
    const auth = login
      ? { user: config.dashboardUser, password: config.dashboardPassword, readonlyUsers: config.dashboardReadonlyUsers, sessionSecret: config.dashboardSessionSecret }
      : undefined;
    const app = createApp({
      queues: this.queues,
      inspector: new Inspector(this.queues),
      logger: log,
      redisLabel: config.redis.redacted,
      redisTarget: config.redis,
      redisTlsCa: config.redisTlsCa,
      maxPayloadBytes: config.maxPayloadBytes,
      alertWaitingMs: config.dashboardAlertWaitingMs,
      auth,
    });
    const host = auth ? '0.0.0.0' : '127.0.0.1';
    if (!auth) {
      log.warn('DASHBOARD_USER and DASHBOARD_PASSWORD are unset: no login, so the dashboard listens on 127.0.0.1 only');
    }
    this.http = new HttpService({
      handler: app,
      port: config.dashboardPort,
      host,
      graceMs: 2000,
      onListening: (port) => log.info({ url: `http://127.0.0.1:${port}`, host, login: Boolean(auth) }, 'listening'),
    });
    await this.http.start();
  }

  async stop(): Promise<void> {
    await this.http?.stop();
    await this.queues?.close();
    this.queues = undefined;
    await closeRedis(this.conn);
    this.conn = undefined;
  }
}

let log = createLogger('dashboard');
try {
  const config = loadConfig(process.env);
  log = createLogger('dashboard', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start
  await runUntilSignalled([new DashboardService(config, log)], log);
} catch (err) {
  const msg = isConveyorError(err) ? `${err.code}: ${err.message}` : String(err);
  log.fatal({ err: msg }, 'failed to start');
  process.stderr.write(`conveyor dashboard: ${msg}\n`);
  process.exit(2);
}
