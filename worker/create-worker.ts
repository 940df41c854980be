/**
 * createWorker({ conveyor, jobs }): the whole worker runtime inside an app's
 * process, the same one `conveyor worker` runs: one BullMQ worker per queue
 * with timeouts, retries and dead letters, the fleet heartbeat (and its
 * quiet/stop commands), the watchdog that replaces a worker gone silent
 * after a failover, schedule repair, a graceful stop within the grace
 * period, a Prometheus registry the app can serve, and the interop bridge
 * and migration drain when the configuration asks for them.
 *
 *   const worker = createWorker({ conveyor, jobs: [sendWelcomeJob] });
 *   await worker.start();
 *   …
 *   await worker.stop();   // running jobs finish within SHUTDOWN_GRACE_MS
 */
import { ConveyorError } from '../shared/errors.ts';
import { coreOf, type Conveyor } from '../shared/conveyor.ts';
import type { Core } from '../shared/core.ts';
import type { Logger } from '../shared/log.ts';
import type { Config } from '../shared/config/config.ts';
import { isValidQueueName } from '../shared/queue/names.ts';
import { isJobDefinition, type AnyJobDefinition } from '../shared/jobs/define-job.ts';
import type { Handler, HandlerMap } from '../shared/runtime/handler.ts';
import type { Service } from '../shared/runtime/service.ts';
import { WorkerHost, workerId } from '../shared/runtime/worker-host.ts';
import { attachJobLog } from '../shared/runtime/job-log.ts';
import { attachWatchdog } from '../shared/runtime/watchdog.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { ScheduleKeeper } from '../shared/runtime/schedule-keeper.ts';
import type { Metrics } from '../shared/metrics.ts';
import { builtinHandlers } from './handlers/index.ts';

export interface WorkerOptions {
  /** The connected Conveyor (settings, Redis, known jobs); it stays the caller's to close, after stop(). */
  conveyor: Conveyor;
  /** Jobs with handlers (defineJob(…).handle(…)). */
  jobs?: readonly AnyJobDefinition[];
  /** Plain handlers by job name (the HANDLERS shapes). */
  handlers?: Readonly<Record<string, Handler>>;
  /** Queues to consume. Default: the Conveyor's `queues` when set, else the queues of `jobs`, else "default". */
  queues?: readonly string[];
  /** Jobs run at once per queue (default the Conveyor's CONCURRENCY, 10). */
  concurrency?: number;
  /** The built-in http, noop, sleep and fail handlers (default true). */
  builtins?: boolean;
  /** Default: the Conveyor's logger. */
  logger?: Logger;
  /** A Prometheus registry of the worker's metrics (worker.metrics; default true). */
  metrics?: boolean;
  /** What a "stop" from the fleet view (dashboard, CLI) does. Default: stop this worker (not the process). */
  onStopRequested?: () => void;
}

export interface WorkerMetricsView {
  /** The prom-client registry (queue depth, jobs by outcome, run time, Redis, process). */
  readonly registry: Metrics['registry'];
  readonly contentType: string;
  /** The text exposition format, for GET /metrics. */
  render(): Promise<string>;
}

export interface ConveyorWorker {
  /** This process's id in the fleet (host:pid:random). */
  readonly id: string;
  readonly queues: readonly string[];
  /** Present after start() when metrics are on. */
  readonly metrics: WorkerMetricsView | undefined;
  start(): Promise<void>;
  /** Take no new jobs; running ones go on. */
  quiet(): Promise<void>;
  /** Graceful: no new jobs, running ones finish within the grace period, the rest go back to their queue. Idempotent. */
  stop(): Promise<void>;
}

/** The handler map: built-ins, plain handlers, then the jobs (a job's handler gets its schema's parsed data). */
function handlerMap(core: Core, jobs: readonly AnyJobDefinition[], plain: Readonly<Record<string, Handler>>, builtins: boolean): HandlerMap {
  const map: Record<string, Handler> = builtins ? builtinHandlers(core.config.httpAllowedHosts) : {};
  const from = new Map<string, string>();
  for (const [name, fn] of Object.entries(plain)) {
    if (typeof fn !== 'function') throw new ConveyorError('INVALID_HANDLER', `handlers: "${name}" is ${fn === null ? 'null' : typeof fn}, not a function`);
    map[name] = fn;
    from.set(name, 'handlers');
  }
  for (const job of jobs) {
    if (typeof job.run !== 'function') throw new ConveyorError('INVALID_JOB_DEFINITION', `jobs: "${job.name}" has no handler; attach one with defineJob(…).handle(async (data, ctx) => …)`, { job: job.name });
    const other = from.get(job.name);
    if (other) throw new ConveyorError('INVALID_JOB_DEFINITION', `jobs: job "${job.name}" is given twice (also in ${other}); a worker has one handler per job name`, { job: job.name });
    from.set(job.name, 'jobs');
    map[job.name] = job.run;
  }
  // Data is checked against the job's schema before its handler runs (a mismatch fails the attempt with
  // PAYLOAD_INVALID, straight to the dead letters); only names with a schema pay for it.
  for (const [name, fn] of Object.entries(map)) {
    if (!core.catalog.get(name)?.parse) continue;
    map[name] = (data, ctx) => {
      const parsed = core.catalog.parse(name, data);
      return parsed instanceof Promise ? parsed.then((v) => fn(v, ctx)) : fn(parsed, ctx);
    };
  }
  return Object.freeze(map);
}

function queuesOf(config: Readonly<Config>, jobs: readonly AnyJobDefinition[], given: readonly string[] | undefined): string[] {
  if (given !== undefined) {
    if (!Array.isArray(given) || given.length === 0) throw new ConveyorError('CONFIG_INVALID', 'queues: give at least one queue name');
    for (const q of given) if (!isValidQueueName(q)) throw new ConveyorError('INVALID_QUEUE_NAME', `queues: queue name ${JSON.stringify(q)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
    return [...new Set(given)];
  }
  if (config.queuesExplicit || jobs.length === 0) return [...config.queues];
  return [...new Set(jobs.map((j) => j.queue))];
}

export function createWorker(opts: WorkerOptions): ConveyorWorker {
  if (!opts || typeof opts !== 'object') throw new ConveyorError('INVALID_REQUEST', 'createWorker({ conveyor, jobs, … })');
  const core = coreOf(opts.conveyor);
  const jobs = opts.jobs ?? [];
  if (!Array.isArray(jobs)) throw new ConveyorError('INVALID_JOB_DEFINITION', 'jobs must be an array of job definitions with handlers');
  for (const j of jobs) if (!isJobDefinition(j)) throw new ConveyorError('INVALID_JOB_DEFINITION', 'jobs: every entry must be a job definition (defineJob(…).handle(…))');
  const concurrency = opts.concurrency ?? core.config.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) throw new ConveyorError('CONFIG_INVALID', `concurrency must be a whole number from 1 to 10000, got ${concurrency}`);
  const queues = queuesOf(core.config, jobs, opts.queues);
  // This worker's view of the settings: its own queues and concurrency.
  const config: Readonly<Config> = Object.freeze({ ...core.config, queues, concurrency });
  const log = opts.logger ?? core.log;
  // Duplicate names are an error now, not at start (the definitions are known already).
  handlerMap(core, jobs, opts.handlers ?? {}, opts.builtins ?? true);

  let host: WorkerHost | undefined;
  let metrics: WorkerMetricsView | undefined;
  const parts: Service[] = [];
  let state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  const id = workerId();

  const start = async (): Promise<void> => {
    if (state !== 'new') throw new ConveyorError('INVALID_REQUEST', `worker.start() called twice (state ${state})`);
    state = 'starting';
    for (const job of jobs) {
      const inc = core.include(job, 'createWorker({ jobs })');
      if (inc) await inc;
    }
    const handlers = handlerMap(core, jobs, opts.handlers ?? {}, opts.builtins ?? true);
    host = new WorkerHost({ config, handlers, logger: log, telemetry: core.telemetry, id });
    attachJobLog(host, log);
    attachWatchdog(host, { logger: log });
    const w = host;
    attachHeartbeat(host, { logger: log, onStop: opts.onStopRequested ?? (() => void stop()) });
    if (opts.metrics !== false) {
      const { Metrics } = await import('../shared/metrics.ts');
      const m = new Metrics({ queueSet: core.queues, queues, processMetrics: true });
      m.attachWorker(w, Object.keys(handlers));
      metrics = { registry: m.registry, contentType: m.contentType, render: () => m.render() };
    }
    if (config.limitsFile) {
      const { applyLimitsFile } = await import('../shared/flow/queue-limits.ts');
      await applyLimitsFile(core.limits, config.limitsFile, { logger: log });
    }
    parts.push(new ScheduleKeeper(core.schedules, config, log), host);
    // Loaded only when configured: a worker loads no code it does not run.
    if (config.interop.length > 0) parts.push(new (await import('../shared/interop/bridge.ts')).InteropBridge({ config, logger: log, core }));
    if (config.drainRedisUrls.length > 0) parts.push(new (await import('../shared/migrate/dual-drain.ts')).DualDrain({ config, handlers, logger: log }));
    try {
      for (const p of parts) await p.start();
    } catch (err) {
      await Promise.allSettled([...parts].reverse().map((p) => p.stop()));
      state = 'stopped';
      throw err;
    }
    state = 'running';
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await starting?.catch(() => {});
      // The host, bridge and drain stop together (each finishes its running work); then schedule repair.
      const [keeper, ...rest] = parts;
      await Promise.allSettled(rest.reverse().map((p) => p.stop()));
      await keeper?.stop();
      state = 'stopped';
    })();
    return stopping;
  };

  return {
    id,
    queues,
    get metrics() {
      return metrics;
    },
    start() {
      starting ??= start();
      return starting;
    },
    async quiet() {
      await host?.quiet();
    },
    stop,
  };
}
