/** Worker process: consumes QUEUES with CONCURRENCY, running built-in and HANDLERS handlers. */
import { loadConfig, describeConfig } from '../shared/config/config.ts';
import { createLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { ScheduleKeeper } from '../shared/runtime/schedule-keeper.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { startTracing } from '../shared/tracing.ts';
import { attachJobLog } from '../shared/runtime/job-log.ts';
import { attachWatchdog } from '../shared/runtime/watchdog.ts';
import { reportStartFailure, runUntilSignalled } from '../shared/runtime/shutdown.ts';
import { resolveHandlers } from './handlers/index.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';

/** Beyond SHUTDOWN_GRACE_MS: handing jobs back, closing connections. */
const STOP_MARGIN_MS = 15_000;

let log = createLogger('worker');
try {
  const config = loadConfig(process.env);
  log = createLogger('worker', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start
  const handlers = await resolveHandlers(config.httpAllowedHosts, config.handlersPath);
  log.info({ handlers: Object.keys(handlers).sort() }, 'handlers loaded');
  const tracing = await startTracing(config, log, 'worker');
  const host = new WorkerHost({ config, handlers, logger: log, telemetry: tracing?.telemetry });
  attachJobLog(host, log); // LOG_LEVEL=debug: a line per job start and completion
  attachWatchdog(host, { logger: log }); // replaces a BullMQ worker that stopped fetching (bullmq #4585 and kin)
  // Fleet heartbeat; a "stop" from the board shuts the process down as SIGTERM does.
  attachHeartbeat(host, { logger: log, onStop: () => process.kill(process.pid, 'SIGTERM') });
  // GET /metrics on METRICS_PORT (nothing without it); listens before the host starts, stops after it.
  // (loaded only then: prom-client and the gauges cost a few hundred ms of start-up)
  const metrics =
    config.metricsPort === undefined
      ? { start: async () => {}, stop: async () => {} }
      : new (await import('../shared/runtime/worker-metrics.ts')).WorkerMetrics({ config, host, handlerNames: Object.keys(handlers), logger: log });
  // Services stop together; the last spans are flushed once the host has stopped (host.stop() is idempotent).
  const flushTraces = { start: async () => {}, stop: async () => void (await host.stop(), await tracing?.shutdown()) };
  // INTEROP=sidekiq,resque: move jobs pushed in those formats into Conveyor queues (shared/interop/bridge.ts).
  // (Loaded only when configured, like the metrics: a worker loads no code it does not run.)
  const interop = config.interop.length > 0 ? [new (await import('../shared/interop/bridge.ts')).InteropBridge({ config, logger: log })] : [];
  // DRAIN_REDIS_URLS: during a migration, also consume the old deployments until they are empty (shared/migrate/dual-drain.ts).
  const drain = config.drainRedisUrls.length > 0 ? [new (await import('../shared/migrate/dual-drain.ts')).DualDrain({ config, handlers, logger: log })] : [];
  await runUntilSignalled([flushTraces, metrics, new ScheduleKeeper(config, log), host, ...interop, ...drain], log, { stopDeadlineMs: config.shutdownGraceMs + STOP_MARGIN_MS });
} catch (err) {
  reportStartFailure(log, err);
  process.exit(2);
}
