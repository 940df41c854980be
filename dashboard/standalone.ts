/**
 * The standalone dashboard (`conveyor dashboard`, npm run dashboard): a
 * Conveyor from the environment and the board on DASHBOARD_PORT. Without
 * DASHBOARD_USER / DASHBOARD_PASSWORD there is no login, so it listens on
 * 127.0.0.1 only and says so. startDashboard() runs it inside a process of
 * the caller's; runDashboard() is the process.
 */
import { loadConfig, describeConfig, type Config } from '../shared/config/config.ts';
import { Conveyor, coreOf } from '../shared/conveyor.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import { runStarted } from '../shared/runtime/shutdown.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';
import { createApp, type AppDeps } from './app.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface DashboardOptions {
  /** Settings (README "Configuration"); default process.env. */
  env?: Env;
  logger?: Logger;
}

export interface RunningDashboard {
  readonly url: string;
  readonly port: number;
  readonly conveyor: Conveyor;
  /** Stops listening, then closes the Conveyor. Idempotent. */
  stop(): Promise<void>;
}

/** The login the configuration asks for (DASHBOARD_USER/PASSWORD, read-only users), or none. */
export function loginOf(config: Readonly<Config>): AppDeps['auth'] {
  const login = Boolean(config.dashboardUser && config.dashboardPassword) || config.dashboardReadonlyUsers.length > 0;
  return login
    ? { user: config.dashboardUser, password: config.dashboardPassword, readonlyUsers: config.dashboardReadonlyUsers, sessionSecret: config.dashboardSessionSecret }
    : undefined;
}

/** The board's deps from the parts behind a Conveyor. */
export function boardDeps(conveyor: Conveyor, logger?: Logger): AppDeps {
  const core = coreOf(conveyor);
  const { config } = core;
  return {
    queues: core.queues,
    inspector: core.inspector,
    logger: logger ?? core.log,
    redisLabel: config.redis.redacted,
    redisTarget: config.redis,
    redisTlsCa: config.redisTlsCa,
    maxPayloadBytes: config.maxPayloadBytes,
    alertWaitingMs: config.dashboardAlertWaitingMs,
    auth: loginOf(config),
    schedules: core.schedules,
    limits: core.limits,
    fleet: core.fleet,
  };
}

export async function startDashboard(opts: DashboardOptions = {}): Promise<RunningDashboard> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env);
  const log = opts.logger ?? createLogger('dashboard', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start
  const conveyor = await Conveyor.fromEnv(env, { logger: log, name: 'conveyor-dashboard' });
  const deps = boardDeps(conveyor, log);
  const host = deps.auth ? '0.0.0.0' : '127.0.0.1';
  if (!deps.auth) log.warn('DASHBOARD_USER and DASHBOARD_PASSWORD are unset: no login, so the dashboard listens on 127.0.0.1 only');
  const http = new HttpService({
    handler: createApp(deps),
    port: config.dashboardPort,
    host,
    graceMs: 2000,
    onListening: (port) => log.info({ url: `http://127.0.0.1:${port}`, host, login: Boolean(deps.auth) }, 'listening'),
  });
  try {
    await http.start();
  } catch (err) {
    await conveyor.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${http.port}`,
    port: http.port,
    conveyor,
    stop() {
      stopping ??= (async () => {
        await http.stop();
        await conveyor.close();
      })();
      return stopping;
    },
  };
}

/** The dashboard as the process: runs until SIGTERM/SIGINT; a failed start exits 2 with one line. */
export function runDashboard(opts: Omit<DashboardOptions, 'env'> = {}): Promise<void> {
  return runStarted('dashboard', (logger) => startDashboard({ ...opts, logger }), opts.logger);
}
