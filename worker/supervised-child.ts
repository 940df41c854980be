/**
 * The child's side of `conveyor worker --processes N` (worker/supervisor.ts):
 * a worker process forked by a supervisor tells it over the IPC channel when
 * it is ready, sends its RSS and health once a second (the supervisor's
 * memory cap and probes read them), answers requests for its metrics (the
 * supervisor serves METRICS_PORT for all its children), takes updates of
 * the fleet's restart counts for its heartbeat, and stops gracefully when the
 * supervisor goes away (the IPC channel closes), so no child outlives it.
 */
import type { Registry } from 'prom-client';
import { setSupervisorInfo, type SupervisorInfo } from '../shared/runtime/supervised.ts';
import type { EndpointHealth } from '../shared/runtime/metrics-endpoint.ts';

/** Child → supervisor. */
export type ChildMessage =
  | { t: 'ready'; workerId: string }
  | { t: 'stats'; rss: number; health: EndpointHealth }
  | { t: 'metrics'; reqId: number; metrics: unknown[] }
  /** A fleet "stop" addressed this process: it exits and its slot is not refilled. */
  | { t: 'stop-requested' };

/** Supervisor → child. */
export type SupervisorMessage = { t: 'supervisor'; info: SupervisorInfo } | { t: 'metrics'; reqId: number };

export const STATS_INTERVAL_MS = 1000;

export interface SupervisedChild {
  /** The worker started: report ready and start the stats. */
  started(workerId: string): void;
  /** A fleet "stop": tell the supervisor not to refill the slot, then stop as SIGTERM does. */
  stopRequested(): void;
}

/** Undefined when this process has no supervisor (no IPC channel). */
export function connectToSupervisor(opts: { health: () => EndpointHealth; registry: () => Registry | undefined }): SupervisedChild | undefined {
  if (typeof process.send !== 'function' || !process.env.CONVEYOR_SUPERVISOR) return undefined;
  const send = (m: ChildMessage) => {
    if (process.connected) process.send!(m, undefined, {}, () => {});
  };
  let timer: NodeJS.Timeout | undefined;
  process.on('message', (raw: unknown) => {
    const m = raw as SupervisorMessage;
    if (m?.t === 'supervisor') setSupervisorInfo(m.info);
    else if (m?.t === 'metrics') {
      const registry = opts.registry();
      void (registry ? registry.getMetricsAsJSON() : Promise.resolve([])).then(
        (metrics) => send({ t: 'metrics', reqId: m.reqId, metrics }),
        () => send({ t: 'metrics', reqId: m.reqId, metrics: [] }),
      );
    }
  });
  // The supervisor died (or closed the channel): stop the way SIGTERM stops, running jobs finishing.
  process.on('disconnect', () => {
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  });
  return {
    started(workerId) {
      send({ t: 'ready', workerId });
      const stats = () => send({ t: 'stats', rss: process.memoryUsage.rss(), health: opts.health() });
      stats();
      timer = setInterval(stats, STATS_INTERVAL_MS);
      timer.unref();
    },
    stopRequested() {
      send({ t: 'stop-requested' });
      process.kill(process.pid, 'SIGTERM');
    },
  };
}
