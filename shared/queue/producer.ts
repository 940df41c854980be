/**
 * Enqueue: one job, or many atomically, with idempotent ids and durable
 * enqueue (Redis WAIT on the same connection).
 */
import { ConveyorError, isConveyorError } from '../errors.ts';
import { Cluster } from 'ioredis';
import { Job } from 'bullmq';
import { toRedisError, type RedisConnection } from '../redis/connections.ts';
import { masterConnectionFor } from '../redis/cluster-route.ts';
import { failoverUnderWay, whenWritable } from '../redis/sentinel-events.ts';
import { bullName, isValidQueueName, keys, PREFIX } from './names.ts';
import { parseJobInput, toBullOptions, type JobInput } from './job-input.ts';
import type { QueueSet } from './queue-set.ts';
import type { JobCatalog } from '../jobs/job-catalog.ts';
import type { FlowGate } from '../flow/gate.ts';
import { NO_KEY } from '../flow/limits.ts';

export interface ProducerOptions {
  maxPayloadBytes?: number;
  /** Durable enqueue: replicas that must hold a job before enqueue resolves (0 = off). */
  minReplicas?: number;
  /** How long WAIT may take for those replicas. */
  waitTimeoutMs?: number;
  /**
   * How long an enqueue may wait for a Sentinel failover to finish before it
   * answers REDIS_UNAVAILABLE. Each Redis command is bounded by its
   * connection's command timeout (createRedis, liveness.ts); use the same value.
   */
  timeoutMs?: number;
  /** For error messages: the redacted Redis URL. */
  redisLabel?: string;
  maxBulk?: number;
  /**
   * The known jobs (job-catalog.ts): a job's data is checked against its
   * schema before anything is written (PAYLOAD_INVALID), and a definition's
   * default options go under the enqueue's own.
   */
  jobs?: JobCatalog;
  /** The flow gate: jobs of a queue with per-key limits are held by it (flow/gate-scripts.ts). */
  gate?: FlowGate;
}

export interface EnqueueResult {
  id: string;
  queue: string;
  name: string;
  /** True when a job with the same jobId already existed: nothing was added. */
  duplicate: boolean;
  /** opts.throttle: a job with the same throttle id holds the window; `id` is that job's and nothing was added. */
  throttled?: true;
}

export interface BulkResult {
  ids: string[];
}

export function assertQueueName(queue: unknown): asserts queue is string {
  if (!isValidQueueName(queue)) {
    throw new ConveyorError('INVALID_QUEUE_NAME', `queue name ${JSON.stringify(queue)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
}

export class Producer {
  private readonly queues: QueueSet;
  private readonly conn: RedisConnection;
  private readonly opts: Required<Omit<ProducerOptions, 'jobs' | 'gate'>>;
  private readonly jobs: JobCatalog | undefined;
  private readonly gate: FlowGate | undefined;

  constructor(queues: QueueSet, opts: ProducerOptions = {}) {
    this.queues = queues;
    this.conn = queues.connection;
    this.opts = {
      maxPayloadBytes: opts.maxPayloadBytes ?? 524_288,
      minReplicas: opts.minReplicas ?? 0,
      waitTimeoutMs: opts.waitTimeoutMs ?? 2000,
      timeoutMs: opts.timeoutMs ?? 5000,
      redisLabel: opts.redisLabel ?? 'redis',
      maxBulk: opts.maxBulk ?? 1000,
    };
    this.jobs = opts.jobs;
    this.gate = opts.gate;
  }

  /**
   * Input → a checked job: its envelope (name, options, size) first, then
   * its data against the job's schema (synchronous unless the schema is),
   * with the definition's default options under its own. Writes nothing.
   */
  private checked(input: unknown, where = ''): JobInput | Promise<JobInput> {
    const job = parseJobInput(input, this.opts.maxPayloadBytes, where);
    const catalog = this.jobs;
    if (!catalog || catalog.size === 0) return job;
    const defaults = catalog.defaultsOf(job.name);
    if (defaults) job.opts = { ...defaults, ...job.opts } as JobInput['opts'];
    const v = catalog.validate(job.name, job.data, where);
    return v ? v.then(() => job) : job;
  }

  /** Enqueues one job. Input is validated first: invalid input writes nothing. */
  async enqueue(queue: string, input: JobInput | unknown): Promise<EnqueueResult> {
    assertQueueName(queue);
    const c = this.checked(input);
    const job = c instanceof Promise ? await c : c;
    const minReplicas = job.opts?.minReplicas ?? this.opts.minReplicas;
    // One async function, no closure per call: this is the hot path (bounded() explains the bounds).
    try {
      if (failoverUnderWay(this.conn)) await this.untilWritable();
      if (!this.queues.isRegistered(queue)) await this.queues.register(queue);
      const g = this.gate ? this.gate.isGated(queue) : false;
      const gated = g instanceof Promise ? await g : g;
      const opts = toBullOptions(job.opts, gated);
      if (job.opts?.jobId !== undefined) {
        // BullMQ answers the same way whether it added the job or found one with
        // that id; ask first so the caller learns it was a duplicate.
        if ((await this.conn.exists(keys.job(queue, job.opts.jobId))) === 1) {
          // A retry after DURABILITY_NOT_CONFIRMED lands here: the job it finds
          // must be confirmed like a new one before "duplicate" promises anything.
          await this.confirmReplicas(minReplicas, queue, [job.opts.jobId]);
          return { id: job.opts.jobId, queue, name: job.name, duplicate: true };
        }
      }
      const id = gated ? (await this.addGated(queue, [job], [opts]))[0]! : String((await this.queues.source(queue).add(job.name, job.data ?? null, opts)).id);
      if (minReplicas > 0) await this.confirmReplicas(minReplicas, queue, [id]);
      // BullMQ answers a deduplicated add with the id of the job that holds the window.
      if (job.opts?.throttle && id !== opts.jobId) return { id, queue, name: job.name, duplicate: false, throttled: true };
      // Debounce: ours is the job that runs (BullMQ replaced the earlier one, or runs ours after the one running now).
      return { id: job.opts?.debounce ? opts.jobId! : id, queue, name: job.name, duplicate: false };
    } catch (err) {
      throw this.asConveyorError(err);
    }
  }

  /**
   * Enqueues many jobs atomically: every input is validated before anything is
   * written, then all are added in one MULTI/EXEC (BullMQ's addBulk is a
   * pipeline, not atomic; see addAtomically).
   */
  async enqueueBulk(queue: string, inputs: unknown): Promise<BulkResult> {
    assertQueueName(queue);
    if (!Array.isArray(inputs)) throw new ConveyorError('INVALID_REQUEST', 'jobs: expected an array of jobs');
    if (inputs.length === 0) throw new ConveyorError('INVALID_REQUEST', 'jobs: expected at least one job');
    if (inputs.length > this.opts.maxBulk) {
      throw new ConveyorError('INVALID_REQUEST', `jobs: ${inputs.length} jobs in one bulk; the limit is ${this.opts.maxBulk}`, { limit: this.opts.maxBulk });
    }
    const checked = inputs.map((raw, i) => this.checked(raw, `jobs.${i}`));
    const jobs = checked.some((c) => c instanceof Promise) ? await Promise.all(checked) : (checked as JobInput[]);
    const total = jobs.reduce((n, j) => n + Buffer.byteLength(JSON.stringify(j.data ?? null)), 0);
    if (total > this.opts.maxPayloadBytes * 4) {
      throw new ConveyorError('PAYLOAD_TOO_LARGE', `the bulk's payloads add up to ${total} bytes; the limit is ${this.opts.maxPayloadBytes * 4} (4 × MAX_PAYLOAD_BYTES)`);
    }
    const minReplicas = Math.max(this.opts.minReplicas, ...jobs.map((j) => j.opts?.minReplicas ?? 0));
    return this.bounded(async () => {
      await this.queues.register(queue);
      const gated = this.gate ? await this.gate.isGated(queue) : false;
      const ids = gated ? await this.addGated(queue, jobs, jobs.map((j) => toBullOptions(j.opts, true))) : await this.addAtomically(queue, jobs);
      await this.confirmReplicas(minReplicas, queue, ids);
      return { ids };
    });
  }

  /**
   * All the jobs in one MULTI/EXEC (one queue: one hash slot, also on Cluster).
   * Traced producers go through FlowProducer.addBulk, which gives each job its
   * span. Untraced, the jobs go onto one transaction through the queue's
   * backend (addJobToTransaction, which BullMQ keeps public for batching
   * inserts onto a shared transaction) with the queue's own key map: the
   * FlowProducer builds a queue context per job and addFlow a key map per
   * job, which made the atomic bulk cost 1.8× (FlowProducer) and 1.15×
   * (addFlow) the CPU of the plain, non-atomic queue.addBulk; this costs the same.
   */
  private async addAtomically(queue: string, jobs: JobInput[]): Promise<string[]> {
    const q = this.queues.source(queue);
    if (q.opts.telemetry) {
      const nodes = await this.queues.flowProducer().addBulk(
        jobs.map((j) => ({ name: j.name, queueName: bullName(queue), prefix: PREFIX, data: j.data ?? null, opts: toBullOptions(j.opts) })),
      );
      const ids = (nodes ?? []).map((n) => String(n.job.id));
      if (ids.length !== jobs.length) throw new ConveyorError('SHUTTING_DOWN', 'the producer is closing');
      return ids;
    }
    return this.transaction(queue, jobs, jobs.map((j) => toBullOptions(j.opts)), false);
  }

  /**
   * Jobs of a queue with per-key limits: added by BullMQ and parked in the
   * queue's flow gate in the same MULTI, so a job is never in BullMQ's wait
   * list unadmitted, nor lost between the two. (Traced producers too: the
   * gate needs the park on the add's own transaction.)
   */
  private addGated(queue: string, jobs: JobInput[], opts: ReturnType<typeof toBullOptions>[]): Promise<string[]> {
    return this.transaction(queue, jobs, opts, true);
  }

  private async transaction(queue: string, jobs: JobInput[], opts: ReturnType<typeof toBullOptions>[], gated: boolean): Promise<string[]> {
    const q = this.queues.source(queue);
    if (q.closing) throw new ConveyorError('SHUTTING_DOWN', 'the producer is closing');
    // toFlowEntry: the job's stored form, its options checked as Queue.add checks them.
    const entries = jobs.map((j, i) => new Job(q, j.name, j.data ?? null, opts[i], opts[i]!.jobId).toFlowEntry());
    const backend = q.backend;
    const multi = (await backend.client).multi();
    // Queued on the transaction, in order; the replies come with EXEC.
    for (const e of entries) await backend.addJobToTransaction(multi, e.jobData, e.jobId, e.parentKeyOpts);
    if (gated) this.gate!.park(multi, queue, jobs.map((j, i) => ({ id: opts[i]!.jobId!, key: j.opts?.key ?? NO_KEY, priority: opts[i]!.priority ?? 0 })));
    const all = ((await multi.exec()) ?? []) as [Error | null, unknown][];
    const expected = entries.length + (gated ? 1 : 0);
    if (all.length !== expected) throw new ConveyorError('REDIS_UNAVAILABLE', `the enqueue's transaction answered ${all.length} replies for ${expected} commands`);
    if (gated && all[entries.length]![0]) throw all[entries.length]![0];
    const results = all.slice(0, entries.length);
    return results.map(([err, id]) => {
      if (err) throw err;
      // addJob's negative codes are about flow parents, which a bulk never has.
      if (typeof id === 'number' && id < 0) throw new Error(`BullMQ refused a job of the bulk (addJob code ${id})`);
      return String(id);
    });
  }

  /**
   * Redis WAIT on the connection that wrote the jobs. On Cluster that is the
   * connection to the master of the queue's slot: WAIT has no key, and sent
   * anywhere else it would count replicas of a master that never saw the write.
   */
  private async confirmReplicas(n: number, queue: string, ids: string[]): Promise<void> {
    if (n <= 0) return;
    const conn = this.conn instanceof Cluster ? masterConnectionFor(this.conn, keys.job(queue, ids[0] ?? '')) : this.conn;
    const acked = conn ? ((await conn.call('WAIT', n, this.opts.waitTimeoutMs)) as number) : 0;
    if (acked < n) {
      throw new ConveyorError(
        'DURABILITY_NOT_CONFIRMED',
        `the job was written to the primary but only ${acked} of ${n} replicas confirmed it within ${this.opts.waitTimeoutMs} ms; it may still run. Retry with the same jobId: that is safe`,
        { ids, replicas: acked, required: n },
      );
    }
  }

  /**
   * Runs an enqueue so that it cannot hang (enqueue() does the same inline): during a Sentinel failover the
   * write first waits for the new primary (sentinel-events.ts), at most the
   * producer's timeout, and is dropped, not sent late, past it; every Redis
   * command then fails within its connection's command timeout (liveness.ts:
   * one timer per connection). Either way the caller gets REDIS_UNAVAILABLE
   * (HTTP 503) and may retry with the same jobId.
   *
   * No per-enqueue timer, race or bookkeeping: on a busy producer each of
   * those cost more than everything else this class does (docs/benchmarks.md).
   */
  private async bounded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      if (failoverUnderWay(this.conn)) await this.untilWritable();
      return await fn();
    } catch (err) {
      throw this.asConveyorError(err);
    }
  }

  /** Waits out a Sentinel failover, at most the producer's timeout. */
  private async untilWritable(): Promise<void> {
    if (!(await whenWritable(this.conn, this.opts.timeoutMs))) throw this.unavailable();
  }

  private asConveyorError(err: unknown): ConveyorError {
    return isConveyorError(err) ? err : toRedisError(err, this.opts.redisLabel);
  }

  private readonly unavailable = (): ConveyorError =>
    new ConveyorError('REDIS_UNAVAILABLE', `Redis at ${this.opts.redisLabel} is in a failover that did not finish within ${this.opts.timeoutMs} ms`);

}
