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
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConveyorError } from '../shared/errors.ts';
import { coreOf, type Conveyor } from '../shared/conveyor.ts';
import type { Core } from '../shared/core.ts';
import type { Logger } from '../shared/log.ts';
import type { Config } from '../shared/config/config.ts';
import { isValidQueueName } from '../shared/queue/names.ts';
import { isIsolation, isJobDefinition, ISOLATIONS, type AnyJobDefinition, type Isolation } from '../shared/jobs/define-job.ts';
import type { Handler, HandlerMap } from '../shared/runtime/handler.ts';
import type { Service } from '../shared/runtime/service.ts';
import { WorkerHost, workerId } from '../shared/runtime/worker-host.ts';
import { attachJobLog } from '../shared/runtime/job-log.ts';
import { attachWatchdog } from '../shared/runtime/watchdog.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { ScheduleKeeper } from '../shared/runtime/schedule-keeper.ts';
import { benchOff } from '../shared/runtime/bench-switches.ts';
import type { SandboxPool } from '../shared/runtime/sandbox.ts';
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
  /**
   * Where handlers run unless their definition says (defineJob `isolation`): 'none' (this process),
   * 'process' or 'thread' (sandboxed, through BullMQ's sandboxed processors). Default: the Conveyor's
   * `workerIsolation` (WORKER_ISOLATION), 'none'. Built-in handlers always run in this process.
   */
  isolation?: Isolation;
  /**
   * The module that exports `jobs` (a path, resolved from the working directory, or a file URL): a
   * sandbox imports it to run them. Needed when any job runs sandboxed; `conveyor worker --jobs` passes its file.
   */
  jobsModule?: string | URL;
  /** The HANDLERS module or folder the plain `handlers` come from, for sandboxing them (`conveyor worker` passes HANDLERS). */
  handlersModule?: string;
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

/** Where the app's handlers run, and what a sandbox loads them from. */
interface IsolationPlan {
  /** For jobs whose definition does not say, and for plain handlers. */
  isolation: Isolation;
  jobsModule: string | undefined;
  handlersModule: string | undefined;
  /** Present at start(): the sandboxes' pool and processor file (createWorker only checks the plan). */
  pool?: SandboxPool;
  processFile?: string;
}

/** A module path or file URL → an absolute path that exists, or the error naming it. */
function modulePath(value: string | URL | undefined, option: string, code: 'INVALID_JOB_DEFINITION' | 'INVALID_HANDLER'): string | undefined {
  if (value === undefined) return undefined;
  let file: string;
  try {
    file = value instanceof URL || /^file:/.test(value) ? fileURLToPath(value) : resolve(value);
  } catch {
    throw new ConveyorError(code, `${option}: ${String(value)} is not a file path or file URL`);
  }
  if (!existsSync(file)) throw new ConveyorError(code, `${option}: no such file ${file} (a relative path starts at the working directory)`, { file });
  if (option === 'jobsModule' && statSync(file).isDirectory()) throw new ConveyorError(code, `${option}: ${file} is a folder; name the module file`, { file });
  return file;
}

/** The handler map: built-ins, plain handlers, then the jobs (a job's handler gets its schema's parsed data). */
function handlerMap(core: Core, jobs: readonly AnyJobDefinition[], plain: Readonly<Record<string, Handler>>, builtins: boolean, plan: IsolationPlan): HandlerMap {
  const map: Record<string, Handler> = builtins ? builtinHandlers(core.config.httpAllowedHosts) : {};
  const from = new Map<string, string>();
  for (const [name, fn] of Object.entries(plain)) {
    if (typeof fn !== 'function') throw new ConveyorError('INVALID_HANDLER', `handlers: "${name}" is ${fn === null ? 'null' : typeof fn}, not a function`);
    map[name] = fn;
    from.set(name, 'handlers');
  }
  // Sandboxed names: a job definition's data is parsed in its sandbox (the schema's output, as here);
  // a plain handler's is parsed here and handed over.
  const sandboxed = new Map<string, { mode: 'process' | 'thread'; parseHere: boolean }>();
  if (plan.isolation !== 'none') {
    for (const name of Object.keys(plain)) {
      if (!plan.handlersModule && !plan.jobsModule) {
        throw new ConveyorError('INVALID_HANDLER', `handlers: "${name}" runs sandboxed (isolation '${plan.isolation}', the worker's default) but createWorker has no handlersModule or jobsModule to load it from; pass the module it comes from, or isolation: 'none'`, { job: name });
      }
      sandboxed.set(name, { mode: plan.isolation, parseHere: true });
    }
  }
  for (const job of jobs) {
    if (typeof job.run !== 'function') throw new ConveyorError('INVALID_JOB_DEFINITION', `jobs: "${job.name}" has no handler; attach one with defineJob(…).handle(async (data, ctx) => …)`, { job: job.name });
    const other = from.get(job.name);
    if (other) throw new ConveyorError('INVALID_JOB_DEFINITION', `jobs: job "${job.name}" is given twice (also in ${other}); a worker has one handler per job name`, { job: job.name });
    from.set(job.name, 'jobs');
    map[job.name] = job.run;
    const mode = job.isolation ?? plan.isolation;
    if (mode === 'none') continue;
    if (!plan.jobsModule) {
      throw new ConveyorError('INVALID_JOB_DEFINITION', `jobs: job "${job.name}" runs sandboxed (isolation '${mode}') but createWorker has no jobsModule to load it from; pass jobsModule: the file that exports it (\`conveyor worker --jobs\` does)`, { job: job.name });
    }
    sandboxed.set(job.name, { mode, parseHere: false });
  }
  for (const [name, { mode, parseHere }] of sandboxed) {
    if (plan.pool && plan.processFile) map[name] = plan.pool.handler(mode, plan.processFile, parseHere);
  }
  // Data is checked against the job's schema before its handler runs (a mismatch fails the attempt with
  // PAYLOAD_INVALID, straight to the dead letters); only names with a schema pay for it.
  for (const [name, fn] of Object.entries(map)) {
    if (!core.catalog.get(name)?.parse || sandboxed.get(name)?.parseHere === false) continue;
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
  const isolation = opts.isolation ?? core.config.workerIsolation;
  if (!isIsolation(isolation)) throw new ConveyorError('CONFIG_INVALID', `isolation must be one of ${ISOLATIONS.map((i) => `'${i}'`).join(', ')}, got ${JSON.stringify(isolation)}`);
  const plan: IsolationPlan = {
    isolation,
    jobsModule: modulePath(opts.jobsModule, 'jobsModule', 'INVALID_JOB_DEFINITION'),
    handlersModule: modulePath(opts.handlersModule, 'handlersModule', 'INVALID_HANDLER'),
  };
  // Duplicate names, and sandboxed jobs without a module, are errors now, not at start (the definitions are known already).
  handlerMap(core, jobs, opts.handlers ?? {}, opts.builtins ?? true, plan);

  let host: WorkerHost | undefined;
  let metrics: WorkerMetricsView | undefined;
  let pool: SandboxPool | undefined;
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
    const sandboxed = jobs.some((j) => (j.isolation ?? isolation) !== 'none') || (isolation !== 'none' && Object.keys(opts.handlers ?? {}).length > 0);
    if (sandboxed) {
      // Loaded only when a handler runs sandboxed.
      const { SandboxPool, sandboxProcessFile } = await import('../shared/runtime/sandbox.ts');
      pool = new SandboxPool({ maxHeapMb: config.sandboxMaxHeapMb, logger: log });
      plan.pool = pool;
      plan.processFile = sandboxProcessFile({ jobsModule: plan.jobsModule, handlersModule: plan.handlersModule }, log.level);
    }
    const handlers = handlerMap(core, jobs, opts.handlers ?? {}, opts.builtins ?? true, plan);
    const off = benchOff();
    if (off.size > 0) log.warn({ off: [...off] }, 'CONVEYOR_BENCH_OFF: parts of this worker are switched off (a benchmark, never production)');
    host = new WorkerHost({ config, handlers, logger: log, telemetry: core.telemetry, id, off });
    attachJobLog(host, log);
    if (!off.has('watchdog')) attachWatchdog(host, { logger: log });
    const w = host;
    if (!off.has('heartbeat')) attachHeartbeat(host, { logger: log, onStop: opts.onStopRequested ?? (() => void stop()) });
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
    parts.push(off.has('schedules') ? { start: async () => {}, stop: async () => {} } : new ScheduleKeeper(core.schedules, config, log), host);
    // Loaded only when configured: a worker loads no code it does not run.
    if (config.interop.length > 0) parts.push(new (await import('../shared/interop/bridge.ts')).InteropBridge({ config, logger: log, core }));
    if (config.drainRedisUrls.length > 0) parts.push(new (await import('../shared/migrate/dual-drain.ts')).DualDrain({ config, handlers, logger: log }));
    try {
      for (const p of parts) await p.start();
    } catch (err) {
      await Promise.allSettled([...parts].reverse().map((p) => p.stop()));
      await pool?.close();
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
      // No job runs any more: every sandbox exits (none outlives stop()).
      await pool?.close();
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
