/**
 * The composition root: every part of Conveyor's core, built once from one
 * Config on one fail-fast connection. `Conveyor` (the public API) holds one;
 * the server, workers, dashboard and CLI get theirs from the Conveyor they
 * connect (coreOf), so the options and wiring that used to be repeated in
 * each process live here. Parts that need a connection of their own (a
 * worker's blocking connection, the heartbeat, the job waiter) ask connect()
 * for it and close it themselves.
 *
 * This module loads BullMQ and ioredis; `import 'conveyor'` does not (the
 * Conveyor class imports it when it connects).
 */
import type { Telemetry } from 'bullmq';
import type { Config } from './config/config.ts';
import type { Logger } from './log.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection, type RedisRole } from './redis/connections.ts';
import { primaryStatus, type PrimaryStatus } from './redis/topology.ts';
import { QueueSet } from './queue/queue-set.ts';
import { Producer } from './queue/producer.ts';
import { Inspector, type JobView } from './queue/inspector.ts';
import type { DeadLetters } from './queue/dead-letter.ts';
import { Schedules } from './queue/schedules.ts';
import { Fleet } from './queue/fleet.ts';
import { jobOptionsSchema, describeZodError } from './queue/job-input.ts';
import { JobCatalog, type CatalogSource } from './jobs/job-catalog.ts';
import { isJobDefinition, sameJob, type AnyJobDefinition } from './jobs/define-job.ts';
import { JobWaiter } from './queue/job-waiter.ts';
import { FlowGate } from './flow/gate.ts';
import { LimitsStore } from './flow/queue-limits.ts';
import { startTracing, type Tracing } from './tracing.ts';
import { ConveyorError } from './errors.ts';
import { BatchStore } from './batches/store.ts';
import { Batches } from './batches/batches.ts';
import { Workflows } from './workflows/workflows.ts';
import type { HistoryStore } from './history/store.ts';

export interface CoreOptions {
  logger: Logger;
  /** The connection's name in CLIENT LIST ("conveyor-server", "conveyor-cli"…). */
  name: string;
  /** Job definitions and HANDLERS schemas: validation, defaults, the OpenAPI document. */
  jobs?: readonly CatalogSource[];
  /** The process's name in traces; tracing starts when the config asks for it (OTEL_EXPORTER_OTLP_ENDPOINT, CONVEYOR_OTEL). */
  tracing?: string;
}

export class Core {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly conn: RedisConnection;
  readonly queues: QueueSet;
  readonly catalog: JobCatalog;
  readonly producer: Producer;
  readonly inspector: Inspector;
  readonly deadLetters: DeadLetters;
  readonly schedules: Schedules;
  readonly fleet: Fleet;
  /** Flow control: the gate (per-key limits, fairness) and every queue's limits. */
  readonly gate: FlowGate;
  readonly limits: LimitsStore;
  readonly telemetry: Telemetry | undefined;
  private readonly tracing: Tracing | undefined;
  private waiter: JobWaiter | undefined;
  private batchesPart: Batches | undefined;
  private workflowsPart: Workflows | undefined;
  private history: Promise<HistoryStore> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(config: Readonly<Config>, opts: CoreOptions, conn: RedisConnection, catalog: JobCatalog, tracing: Tracing | undefined) {
    this.config = config;
    this.log = opts.logger;
    this.conn = conn;
    this.catalog = catalog;
    this.tracing = tracing;
    this.telemetry = tracing?.telemetry;
    this.queues = new QueueSet(conn, { telemetry: this.telemetry });
    this.gate = new FlowGate(conn);
    this.limits = new LimitsStore(this.queues, this.gate);
    this.producer = new Producer(this.queues, {
      maxBulk: config.bulkMax,
      maxPayloadBytes: config.maxPayloadBytes,
      minReplicas: config.enqueueMinReplicas,
      waitTimeoutMs: config.enqueueWaitTimeoutMs,
      timeoutMs: config.redisCommandTimeoutMs,
      redisLabel: config.redis.redacted,
      jobs: catalog,
      gate: this.gate,
    });
    this.inspector = new Inspector(this.queues, this.gate);
    this.deadLetters = this.inspector.deadLetters;
    this.schedules = new Schedules(this.queues, this.producer, { maxPayloadBytes: config.maxPayloadBytes, logger: this.log });
    this.fleet = new Fleet(conn);
  }

  /**
   * Connects and waits until Redis answers (a clear error within the start-up
   * bound otherwise: a bad URL, a wrong password, nothing listening). Nothing
   * is left open when it fails.
   */
  static async open(config: Readonly<Config>, opts: CoreOptions): Promise<Core> {
    // Definitions first: a bad one is an error before any connection exists.
    const catalog = await JobCatalog.create(opts.jobs ?? [], checkDefaults);
    const conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: opts.logger, name: opts.name });
    let tracing: Tracing | undefined;
    try {
      await waitUntilReady(conn, config.redis.redacted);
      tracing = opts.tracing ? await startTracing(config, opts.logger, opts.tracing) : undefined;
    } catch (err) {
      await closeRedis(conn);
      throw err;
    }
    return new Core(config, opts, conn, catalog, tracing);
  }

  /** Another connection to the same Redis, for a part that needs its own; the caller closes it (closeRedis). */
  connect(role: RedisRole, name: string, commandTimeoutMs: number = this.config.redisCommandTimeoutMs): RedisConnection {
    return createRedis(this.config.redis, { role, tlsCa: this.config.redisTlsCa, commandTimeoutMs, logger: this.log, name });
  }

  /** /readyz: does a writable primary answer? */
  readiness(): Promise<PrimaryStatus> {
    return primaryStatus(this.conn, Math.min(this.config.redisCommandTimeoutMs, 2000));
  }

  /** Makes a definition known (validation, defaults) the first time it is used; a clash of names is INVALID_JOB_DEFINITION. */
  include(job: AnyJobDefinition, from: string): void | Promise<void> {
    if (!isJobDefinition(job)) throw new ConveyorError('INVALID_JOB_DEFINITION', `${from}: not a job definition (made with defineJob)`);
    const known = this.catalog.get(job.name)?.definition;
    if (known && sameJob(known, job)) return;
    return this.catalog.add({ definition: job, from }, checkDefaults);
  }

  /** Waits for jobs to finish (one QueueEvents per queue waited on, on its own connection). */
  get jobWaiter(): JobWaiter {
    this.waiter ??= new JobWaiter({ inspector: this.inspector, connect: (name) => this.connect('subscriber', name), logger: this.log });
    return this.waiter;
  }

  /** Job history queries (HISTORY_URL; the pg client loads on first use); HISTORY_NOT_CONFIGURED without it. */
  historyStore(): Promise<HistoryStore> {
    const h = this.config.history;
    if (!h) return Promise.reject(new ConveyorError('HISTORY_NOT_CONFIGURED', 'no job history is kept here: set HISTORY_URL=postgres://… (docs/operations.md "History")'));
    this.history ??= import('./history/store.ts').then(({ HistoryStore }) => new HistoryStore(h.url));
    return this.history;
  }

  /**
   * A job Redis no longer holds, from the history (undefined without HISTORY_URL,
   * when the history has none, or when its database does not answer: then the
   * answer is what it was without history).
   */
  async historyJob(queue: string, id: string): Promise<JobView | undefined> {
    if (!this.config.history) return undefined;
    try {
      const { jobFromHistory } = await import('./history/job-view.ts');
      return await jobFromHistory(await this.historyStore(), queue, id);
    } catch (err) {
      this.log.debug({ queue, id, err: String(err) }, 'job history did not answer; the job is not found');
      return undefined;
    }
  }

  /** Batches (conveyor.batches, /v1/batches): built on first use, on the core's connection. */
  get batches(): Batches {
    const durable = { minReplicas: this.config.enqueueMinReplicas, waitTimeoutMs: this.config.enqueueWaitTimeoutMs };
    this.batchesPart ??= new Batches(new BatchStore(this.queues, this.gate, durable), {
      maxPayloadBytes: this.config.maxPayloadBytes,
      catalog: this.catalog,
      minReplicas: this.config.enqueueMinReplicas,
      waitTimeoutMs: this.config.enqueueWaitTimeoutMs,
      timeoutMs: this.config.redisCommandTimeoutMs,
      redisLabel: this.config.redis.redacted,
    });
    return this.batchesPart;
  }

  /** Workflows (conveyor.workflows, /v1/workflows): graphs of steps on BullMQ flows, each a batch. */
  get workflows(): Workflows {
    this.workflowsPart ??= new Workflows(this.batches, { maxPayloadBytes: this.config.maxPayloadBytes, catalog: this.catalog });
    return this.workflowsPart;
  }

  /** Closes everything it opened, once; never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.waiter?.close();
      await this.workflowsPart?.close();
      await this.batchesPart?.store.close();
      await this.history?.then((s) => s.close(), () => {});
      await this.queues.close();
      await closeRedis(this.conn);
      await this.tracing?.shutdown().catch(() => {});
    })();
    return this.closing;
  }
}

/** A definition's default options are checked like an enqueue's options (jobId is per job, not a default). */
function checkDefaults(job: AnyJobDefinition, from: string): void {
  if (Object.keys(job.defaults).length === 0) return;
  const r = jobOptionsSchema.safeParse(job.defaults);
  if (!r.success) throw new ConveyorError('INVALID_JOB_DEFINITION', `${from}: job "${job.name}": defaults: ${describeZodError(r.error)}`, { job: job.name });
  if (job.defaults.jobId !== undefined) throw new ConveyorError('INVALID_JOB_DEFINITION', `${from}: job "${job.name}": defaults may not hold a jobId (it names one job)`, { job: job.name });
}
