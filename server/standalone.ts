/**
 * The standalone API server (`conveyor server`, npm run server): a Conveyor
 * from the environment, the API app on API_PORT. Without API_TOKENS it
 * listens on 127.0.0.1 only and says so. startServer() runs it inside a
 * process of the caller's (tests, an app); runServer() is the process.
 */
import { loadConfig, describeConfig } from '../shared/config/config.ts';
import { Conveyor, coreOf } from '../shared/conveyor.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import type { AnyJobDefinition } from '../shared/jobs/define-job.ts';
import { applyScheduleFile } from '../shared/queue/schedule-file.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import { runStarted } from '../shared/runtime/shutdown.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';
import { createApp } from './app.ts';
import { apiDeps } from './api-router.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface ServerOptions {
  /** Settings (README "Configuration"); default process.env. */
  env?: Env;
  /** Job definitions whose payload schemas the API validates and documents. */
  jobs?: readonly AnyJobDefinition[];
  /** A module of job definitions (`conveyor server --jobs ./dist/jobs.js`), resolved from the working directory. */
  jobsModule?: string;
  logger?: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly conveyor: Conveyor;
  /** Stops listening (in-flight requests finish), then closes the Conveyor. Idempotent. */
  stop(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env);
  const log = opts.logger ?? createLogger('server', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start
  const fromModule = opts.jobsModule ? (await (await import('../shared/jobs/jobs-module.ts')).loadJobsModule(opts.jobsModule)).definitions : [];
  const conveyor = await Conveyor.fromEnv(env, { logger: log, name: 'conveyor-server', jobs: [...(opts.jobs ?? []), ...fromModule] });
  let http: HttpService | undefined;
  let history: { archiver: import('../shared/history/archiver.ts').HistoryArchiver; conn: import('../shared/redis/connections.ts').RedisConnection } | undefined;
  try {
    const core = coreOf(conveyor);
    if (core.catalog.size > 0) log.info({ jobNames: core.catalog.names }, 'payload schemas loaded');
    if (config.schedulesFile) {
      const r = await applyScheduleFile(core.schedules, config.schedulesFile, { maxPayloadBytes: config.maxPayloadBytes, logger: log });
      log.info({ applied: r.applied, removed: r.removed }, 'SCHEDULES file applied');
    }
    if (config.limitsFile) {
      const { applyLimitsFile } = await import('../shared/flow/queue-limits.ts');
      await applyLimitsFile(core.limits, config.limitsFile, { logger: log });
    }
    // Without tokens anyone who can reach the port can enqueue: only this machine may.
    const open = config.apiTokens.length === 0;
    const host = open ? '127.0.0.1' : '0.0.0.0';
    if (open) log.warn('API_TOKENS is not set: the API accepts requests without a token and listens on 127.0.0.1 only; set API_TOKENS to listen on every interface');
    const deps = apiDeps(conveyor, { logger: log, processMetrics: true });
    if (config.history) {
      // Job history: the archiver copies Redis's events to Postgres off the jobs' path; a Postgres
      // that is down now only delays it (it retries), never the server's start.
      const [{ HistoryArchiver }, { registerHistoryGauges }] = await Promise.all([import('../shared/history/archiver.ts'), import('../shared/history/metrics.ts')]);
      const conn = core.connect('inspector', 'conveyor-history');
      history = { archiver: new HistoryArchiver({ redis: conn, history: config.history, logger: log }), conn };
      registerHistoryGauges(deps.metrics.registry, history.archiver);
      history.archiver.start();
      log.info({ history: config.history.redacted, retentionDays: config.history.retentionDays }, 'history archiver started');
    }
    http = new HttpService({
      handler: createApp(deps),
      port: config.apiPort,
      host,
      onListening: (port) => log.info({ url: `http://127.0.0.1:${port}`, host, port }, 'listening'),
    });
    await http.start();
  } catch (err) {
    await http?.stop();
    await stopHistory(history);
    await conveyor.close();
    throw err;
  }
  const listening = http;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${listening.port}`,
    port: listening.port,
    conveyor,
    stop() {
      // In-flight requests finish before Redis closes.
      stopping ??= (async () => {
        await listening.stop();
        await stopHistory(history);
        await conveyor.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

async function stopHistory(h: { archiver: { stop(): Promise<void> }; conn: import('../shared/redis/connections.ts').RedisConnection } | undefined): Promise<void> {
  if (!h) return;
  await h.archiver.stop();
  const { closeRedis } = await import('../shared/redis/connections.ts');
  await closeRedis(h.conn);
}

/** The server as the process: runs until SIGTERM/SIGINT; a failed start exits 2 with one line. */
export function runServer(opts: Omit<ServerOptions, 'env'> = {}): Promise<void> {
  return runStarted('server', (logger) => startServer({ ...opts, logger }), opts.logger);
}
