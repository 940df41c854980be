/**
 * The standalone worker (`conveyor worker [--jobs MODULE]`, npm run worker):
 * a Conveyor from the environment and createWorker with the built-in
 * handlers, HANDLERS and the --jobs module's jobs; /metrics and the probes
 * (/healthz live, /readyz ready: connected, not quiet or stopping) on METRICS_PORT;
 * a "stop" from the fleet view ends the process as SIGTERM does.
 */
import { loadConfig, describeConfig, type Config } from '../shared/config/config.ts';
import { ConveyorError } from '../shared/errors.ts';
import { Conveyor } from '../shared/conveyor.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { loadHandlers } from '../shared/runtime/handler-files.ts';
import { reportStartFailure, runUntilSignalled } from '../shared/runtime/shutdown.ts';
import type { Service } from '../shared/runtime/service.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';
import { createWorker, type ConveyorWorker } from './create-worker.ts';
import { heartbeatOf } from '../shared/runtime/heartbeat.ts';
import { supervisorInfo } from '../shared/runtime/supervised.ts';
import { connectToSupervisor } from './supervised-child.ts';

/** Beyond SHUTDOWN_GRACE_MS: handing jobs back, closing connections. */
export const STOP_MARGIN_MS = 15_000;

export interface RunWorkerOptions {
  /** `--jobs ./dist/jobs.js`: a module of job definitions with handlers, resolved from the working directory. */
  jobsModule?: string;
  /** `--processes N` (parsed): a supervisor forks N worker processes; overrides WORKER_PROCESSES. */
  processes?: number;
  logger?: Logger;
}

/** The worker as the process: runs until SIGTERM/SIGINT (or a fleet "stop"); a failed start exits 2 with one line. */
export async function runWorker(opts: RunWorkerOptions = {}): Promise<void> {
  let log = opts.logger ?? createLogger('worker');
  let conveyor: Conveyor | undefined;
  let worker: ConveyorWorker | undefined;
  let endpoint: Service | undefined;
  let config: Readonly<Config>;
  // Forked by `conveyor worker --processes N`: the IPC side of it (ready, RSS, metrics).
  const supervised = supervisorInfo() ? connectToSupervisor({ health: () => health(), registry: () => worker?.metrics?.registry }) : undefined;
  try {
    config = loadConfig(process.env);
    const processes = opts.processes ?? config.workerProcesses;
    if (!supervisorInfo() && (processes !== undefined || config.workerMaxRssMb !== undefined)) {
      // `--processes N`, WORKER_PROCESSES or WORKER_MAX_RSS_MB: this process supervises, the children work.
      const { runSupervisor } = await import('./supervisor-process.ts');
      const supLog = opts.logger ?? createLogger('supervisor', config.logLevel);
      return await runSupervisor({ config, processes: processes ?? 1, childArgs: opts.jobsModule ? ['--jobs', opts.jobsModule] : [], logger: supLog, stopMarginMs: STOP_MARGIN_MS });
    }
    log = opts.logger ?? createLogger('worker', config.logLevel);
    log.info({ config: describeConfig(config) }, 'config');
    void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start
    const mod = opts.jobsModule ? await (await import('../shared/jobs/jobs-module.ts')).loadJobsModule(opts.jobsModule) : undefined;
    const handlers = { ...(config.handlersPath ? await loadHandlers(config.handlersPath) : {}), ...(mod?.handlers ?? {}) };
    const jobs = (mod?.definitions ?? []).filter((d) => typeof d.run === 'function');
    if (mod && jobs.length === 0 && Object.keys(mod.handlers).length === 0) {
      throw new ConveyorError('INVALID_JOB_DEFINITION', `--jobs ${opts.jobsModule}: it exports job definitions but no handlers; a worker runs defineJob(…).handle(async (data, ctx) => …)`);
    }
    conveyor = await Conveyor.fromEnv(process.env, { logger: log, name: 'conveyor-worker', jobs: mod?.definitions ?? [] });
    worker = createWorker({
      conveyor,
      jobs,
      handlers,
      // What a sandboxed handler's child process or thread imports (isolation, WORKER_ISOLATION).
      jobsModule: mod?.file,
      handlersModule: config.handlersPath,
      logger: log,
      metrics: config.metricsPort !== undefined || process.env.CONVEYOR_SUPERVISOR_METRICS === '1',
      // A "stop" from the board shuts the process down as SIGTERM does (a supervised one first tells its supervisor).
      onStopRequested: () => (supervised ? supervised.stopRequested() : process.kill(process.pid, 'SIGTERM')),
    });
    log.info({ handlers: ['http', 'noop', 'sleep', 'fail', ...Object.keys(handlers), ...jobs.map((j) => j.name)].sort() }, 'handlers loaded');
  } catch (err) {
    await conveyor?.close();
    reportStartFailure(log, err);
    process.exit(2);
  }
  const c = conveyor;
  const w = worker;
  const health = () => heartbeatOf(w.id)?.health() ?? { live: false, ready: false, detail: { worker: w.id, state: 'gone' } };
  await runUntilSignalled(
    [
      {
        async start() {
          await w.start();
          supervised?.started(w.id);
          if (config.metricsPort !== undefined && w.metrics) {
            // GET /metrics, /healthz and /readyz on METRICS_PORT (nothing without it).
            const { MetricsEndpoint } = await import('../shared/runtime/metrics-endpoint.ts');
            endpoint = new MetricsEndpoint({ metrics: w.metrics, port: config.metricsPort, host: config.metricsHost, logger: log, health });
            await endpoint.start();
          }
        },
        async stop() {
          await endpoint?.stop();
          await w.stop();
          await c.close();
        },
      },
    ],
    log,
    { stopDeadlineMs: config.shutdownGraceMs + STOP_MARGIN_MS },
  );
}
