/**
 * Batches for producers (the library's conveyor.batches and the HTTP API):
 * validate everything first, then create / add / seal / read through the
 * BatchStore. Invalid input writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { ConveyorError, isConveyorError } from '../errors.ts';
import { toRedisError } from '../redis/connections.ts';
import { masterConnectionFor } from '../redis/cluster-route.ts';
import { failoverUnderWay, whenWritable } from '../redis/sentinel-events.ts';
import type { JobCatalog } from '../jobs/job-catalog.ts';
import { assertBatchId, checkJobs, checkSpec, type CheckedJob } from './input.ts';
import { batchKeys } from './keys.ts';
import type { BatchMember, BatchStore, CreateExtension } from './store.ts';
import type { BatchAdded, BatchCreated, BatchView } from './types.ts';

export interface BatchesOptions {
  maxPayloadBytes: number;
  catalog?: JobCatalog;
  /** Durable enqueue (ENQUEUE_MIN_REPLICAS): replicas that must hold a new batch before create/add resolve. */
  minReplicas?: number;
  waitTimeoutMs?: number;
  /** How long a call may wait out a Sentinel failover (the producer's timeout). */
  timeoutMs?: number;
  redisLabel?: string;
}

export class Batches {
  readonly store: BatchStore;
  private readonly opts: BatchesOptions;

  constructor(store: BatchStore, opts: BatchesOptions) {
    this.store = store;
    this.opts = opts;
  }

  private get ctx() {
    return { maxPayloadBytes: this.opts.maxPayloadBytes, catalog: this.opts.catalog };
  }

  /** Creates a batch with its jobs and callbacks, atomically; returns its id and its jobs' ids. */
  async create(spec: unknown): Promise<BatchCreated> {
    const s = await checkSpec(spec, this.ctx);
    const queues = new Set(s.jobs.map((j) => j.queue));
    if (this.store.isCluster && queues.size > 1) {
      const [first, second] = [...queues];
      throw new ConveyorError('INVALID_REQUEST', `jobs: on Redis Cluster a batch's jobs share one queue (one hash slot); this batch has jobs on "${first}" and "${second}"`, { path: 'jobs' });
    }
    return this.bounded(async () => {
      const id = randomUUID();
      let parent: { id: string; home: string } | undefined;
      if (s.parent !== undefined) {
        const home = await this.store.homeOf(s.parent);
        if (!home) throw new ConveyorError('BATCH_NOT_FOUND', `parent: no batch "${s.parent}"`, { id: s.parent, path: 'parent' });
        parent = { id: s.parent, home };
        await this.store.registerChild(parent.id, parent.home, id);
      }
      try {
        const { ids, home } = await this.store.create(id, s.jobs, { callbacks: s.callbacks, open: s.open, description: s.description, ...(parent ? { parent } : {}) });
        await this.confirm(home, id);
        return { id, total: ids.length, sealed: !s.open, ids };
      } catch (err) {
        if (parent) await this.store.forgetChild(parent.id, parent.home, id).catch(() => {});
        throw err;
      }
    });
  }

  /** For workflows: a batch of jobs already checked (with their ids and flow roles), and what the workflow adds to its MULTI. */
  async createMembers(id: string, members: BatchMember[], spec: Parameters<BatchStore['create']>[2], extension: CreateExtension): Promise<{ ids: string[]; home: string }> {
    return this.bounded(async () => {
      const r = await this.store.create(id, members, spec, extension);
      await this.confirm(r.home, id);
      return r;
    });
  }

  /** Adds jobs to an open batch (BATCH_SEALED once it is sealed: nothing is added). */
  async add(id: string, jobs: unknown): Promise<BatchAdded> {
    assertBatchId(id);
    const checked: CheckedJob[] = await checkJobs(jobs, this.ctx);
    return this.bounded(async () => {
      const home = await this.requireHome(id);
      const state = await this.store.openState(home, id);
      if (!state) throw notFound(id);
      if (state.sealed) throw new ConveyorError('BATCH_SEALED', `batch "${id}" is sealed: no job can be added to it (nothing was added)`, { id });
      if (this.store.isCluster && checked.some((j) => j.queue !== home)) {
        throw new ConveyorError('INVALID_REQUEST', `jobs: on Redis Cluster a batch's jobs share one queue; batch "${id}" is on "${home}"`, { path: 'jobs' });
      }
      const r = await this.store.add(id, home, state.queues, checked);
      await this.confirm(home, id);
      return { id, total: r.total, ids: r.ids };
    });
  }

  /** Seals an open batch (idempotent): no more jobs; its callbacks may fire now. */
  async seal(id: string): Promise<BatchView> {
    assertBatchId(id);
    return this.bounded(async () => {
      const view = await this.store.settle(await this.requireHome(id), id, 'seal');
      if (!view) throw notFound(id);
      return view;
    });
  }

  /** The batch: counts, state, progress, callbacks, its first dead jobs. */
  async get(id: string): Promise<BatchView> {
    assertBatchId(id);
    return this.bounded(async () => {
      const r = await this.store.run(await this.requireHome(id), id, 'status');
      if (!r) throw notFound(id);
      return r.view;
    });
  }

  /** Batches newest first (the dashboard). */
  async list(offset = 0, limit = 50): Promise<{ batches: BatchView[]; total: number; offset: number; limit: number }> {
    return this.bounded(async () => {
      const { ids, total } = await this.store.list(offset, limit);
      const views = await Promise.all(ids.map(async (b) => (b.home ? (await this.store.run(b.home, b.id, 'status'))?.view : undefined)));
      return { batches: views.filter((v): v is BatchView => v !== undefined), total, offset, limit };
    });
  }

  private async requireHome(id: string): Promise<string> {
    const home = await this.store.homeOf(id);
    if (!home) throw notFound(id);
    return home;
  }

  /** Durable mode: WAIT on the connection (on Cluster: the master of the batch's slot) for the replicas. */
  private async confirm(home: string, id: string): Promise<void> {
    const n = this.opts.minReplicas ?? 0;
    if (n <= 0) return;
    const conn = this.store.conn;
    const target = conn instanceof Cluster ? masterConnectionFor(conn, batchKeys.meta(home, id)) : conn;
    const acked = target ? ((await target.call('WAIT', n, this.opts.waitTimeoutMs ?? 2000)) as number) : 0;
    if (acked < n) {
      throw new ConveyorError('DURABILITY_NOT_CONFIRMED', `batch "${id}" was written to the primary but only ${acked} of ${n} replicas confirmed it in time; it may still run`, { id, replicas: acked, required: n });
    }
  }

  private async bounded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      if (failoverUnderWay(this.store.conn) && !(await whenWritable(this.store.conn, this.opts.timeoutMs ?? 5000))) {
        throw new ConveyorError('REDIS_UNAVAILABLE', `Redis at ${this.opts.redisLabel ?? 'redis'} is in a failover that did not finish in time`);
      }
      return await fn();
    } catch (err) {
      throw isConveyorError(err) ? err : toRedisError(err, this.opts.redisLabel ?? 'redis');
    }
  }
}

function notFound(id: string): ConveyorError {
  return new ConveyorError('BATCH_NOT_FOUND', `no batch "${id}"`, { id });
}
