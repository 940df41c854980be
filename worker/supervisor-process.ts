/**
 * The supervisor as the process (`conveyor worker --processes N`): signals
 * (SIGTERM/SIGINT stop every child gracefully, SIGHUP restarts them one at a
 * time, a second Ctrl-C kills them), METRICS_PORT with the children's metrics
 * and the group's probes, and the exit status: 0 after a clean stop, 1 for a
 * crash loop or a child that did not stop cleanly, 2 when a child cannot
 * start (bad configuration or jobs module).
 */
import { writeSync } from 'node:fs';
import type { Config } from '../shared/config/config.ts';
import type { Logger } from '../shared/log.ts';
import type { Service } from '../shared/runtime/service.ts';
import { RESTART_CAUSES, WorkerSupervisor } from './supervisor.ts';

/** Signals this close to the first are the same Ctrl-C delivered twice (npm and tsx both forward it). */
const DUPLICATE_SIGNAL_MS = 1000;

export interface RunSupervisorOptions {
  config: Readonly<Config>;
  processes: number;
  childArgs: readonly string[];
  logger: Logger;
  stopMarginMs: number;
}

export async function runSupervisor(opts: RunSupervisorOptions): Promise<void> {
  const { config, logger: log } = opts;
  const env = { ...process.env };
  if (config.metricsPort !== undefined) env.CONVEYOR_SUPERVISOR_METRICS = '1';
  const sup = new WorkerSupervisor({ config, processes: opts.processes, logger: log, childArgs: opts.childArgs, env, stopMarginMs: opts.stopMarginMs });
  let endpoint: Service | undefined;
  let exiting: Promise<never> | undefined;
  const exit = (code: number, reason: string): Promise<never> =>
    (exiting ??= (async () => {
      log[code === 0 ? 'info' : 'error']({ reason }, 'supervisor stopping');
      await sup.stop();
      await endpoint?.stop().catch(() => {});
      const status = code === 0 && !sup.cleanExit ? 1 : code;
      log[status === 0 ? 'info' : 'error']({ exitCode: status, restarts: sup.restartCounts }, 'supervisor stopped');
      process.exit(status);
    })());

  sup.on('fatal', (code, message) => {
    writeSync(2, `conveyor worker: ${message}\n`);
    void exit(code, message);
  });
  sup.on('retired', () => void exit(0, 'every worker process was stopped from the fleet view'));

  let firstSignalAt = 0;
  const onStopSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (!exiting) {
      firstSignalAt = now;
      void exit(0, `${signal} received`);
      return;
    }
    if (now - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    log.warn({ signal }, 'second signal: killing the worker processes now');
    sup.kill();
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => {
    if (!exiting) void sup.rollingRestart();
  });
  // Last resort if this process dies abnormally: leave no orphans behind.
  process.on('exit', () => sup.kill());

  if (config.metricsPort !== undefined) {
    const prom = await import('prom-client');
    const own = new prom.Registry();
    const restarts = new prom.Counter({ name: 'conveyor_worker_restarts_total', help: 'Worker processes the supervisor replaced, by cause (crash, memory: over WORKER_MAX_RSS_MB, rolling: SIGHUP).', labelNames: ['cause'], registers: [own] });
    for (const cause of RESTART_CAUSES) restarts.inc({ cause }, 0);
    sup.on('restart', (_slot, cause) => restarts.inc({ cause }));
    new prom.Gauge({
      name: 'conveyor_supervisor_processes',
      help: 'Worker processes this supervisor runs now (WORKER_PROCESSES when all are up).',
      registers: [own],
      collect() {
        this.set(sup.pids().length);
      },
    });
    const { MetricsEndpoint } = await import('../shared/runtime/metrics-endpoint.ts');
    endpoint = new MetricsEndpoint({
      metrics: {
        contentType: own.contentType,
        async render() {
          const children = prom.AggregatorRegistry.aggregate((await sup.childMetrics()) as never);
          return prom.Registry.merge([children as unknown as typeof own, own]).metrics();
        },
      },
      port: config.metricsPort,
      host: config.metricsHost,
      logger: log,
      health: () => sup.health(),
    });
    await endpoint.start();
  }

  try {
    await sup.start();
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode ?? 1;
    await exit(code, (err as Error).message);
  }
}
