/**
 * BatchStore: the batches' Redis side, shared by the library and API (create,
 * add, seal, read) and by workers (settle after a batch job finished, the
 * sweep, callback delivery). The design is in docs/internals.md "Batches":
 * BullMQ keeps each batch's ledger (its trackers are flow parents of its
 * jobs), SETTLE turns the ledger into counts and fires each callback once,
 * and a fired callback goes through an outbox so that it is enqueued once,
 * whoever delivers it and however often.
 */
import { Cluster } from 'ioredis';
import { masterConnectionFor } from '../redis/cluster-route.ts';
import { Job, Queue } from 'bullmq';
import { ConveyorError } from '../errors.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import type { FlowGate } from '../flow/gate.ts';
import { NO_KEY } from '../flow/limits.ts';
import { deadBullName, keys, PREFIX } from '../queue/names.ts';
import { toBullOptions, type JobOptionsInput, type StoredJobOptions } from '../queue/job-input.ts';
import { batchKeys, callbackJobId, childKey, openMember, parseOpenMember, trackerKey, trackerQueueKey, trackerQueueName, type CallbackKind } from './keys.ts';
import { ACK, CHILD_DONE, CHILD_FORGET, CHILD_REGISTER, GUARD, INIT, RESTORE, SETTLE } from './scripts.ts';
import { FAILED_LIST_MAX, type CheckedCallback, type CheckedJob } from './input.ts';
import type { BatchCallbackData, BatchCallbackView, BatchFailedJob, BatchState, BatchView } from './types.ts';

/** Callback jobs are kept this long once finished (their id is what makes a second enqueue a no-op). */
const CALLBACK_KEEP_S = 7 * 24 * 3600;
/** A finished batch (every callback delivered) is removed this long after it finished. */
export const BATCH_KEEP_MS = 7 * 24 * 3600_000;
/** How deep nested batches may notify their parents in one delivery. */
const MAX_NESTING = 32;

/** Options Conveyor stores on a job of a batch: its batch, and the batch's home when it is on another queue. */
export type BatchJobOptions = StoredJobOptions & { bt?: string; bh?: string };

/** A batch's place in a job's options (what workers look at: nothing else is read for a plain job). */
export function batchOf(opts: unknown): { id: string; home: string | undefined } | undefined {
  const o = opts as { bt?: unknown; bh?: unknown } | undefined;
  return typeof o?.bt === 'string' ? { id: o.bt, home: typeof o.bh === 'string' ? o.bh : undefined } : undefined;
}

interface BatchCommands {
  conveyorBatchSettle(meta: string, children: string, outbox: string, now: number, mode: string, limit: number): Promise<unknown[] | null>;
  conveyorBatchAck(outbox: string, meta: string, kind: string, entry: string, now: number): Promise<number>;
  conveyorBatchChildRegister(meta: string, children: string, child: string): Promise<number>;
  conveyorBatchChildForget(children: string, child: string): Promise<number>;
  conveyorBatchChildDone(children: string, child: string, state: string): Promise<number>;
}

interface MultiCommands {
  conveyorBatchInit(meta: string, now: number, ...fields: (string | number)[]): unknown;
  conveyorBatchGuard(meta: string, id: string, ...queues: string[]): unknown;
  conveyorBatchRestore(meta: string, id: string, n: number, now: number, fresh: string, ...queues: string[]): unknown;
}

const defined = new WeakSet<object>();

function withCommands(conn: RedisConnection): RedisConnection & BatchCommands {
  if (!defined.has(conn)) {
    conn.defineCommand('conveyorBatchSettle', { numberOfKeys: 3, lua: SETTLE });
    conn.defineCommand('conveyorBatchAck', { numberOfKeys: 2, lua: ACK });
    conn.defineCommand('conveyorBatchChildRegister', { numberOfKeys: 2, lua: CHILD_REGISTER });
    conn.defineCommand('conveyorBatchChildForget', { numberOfKeys: 1, lua: CHILD_FORGET });
    conn.defineCommand('conveyorBatchChildDone', { numberOfKeys: 1, lua: CHILD_DONE });
    conn.defineCommand('conveyorBatchInit', { numberOfKeys: 1, lua: INIT });
    conn.defineCommand('conveyorBatchGuard', { numberOfKeys: 1, lua: GUARD });
    conn.defineCommand('conveyorBatchRestore', { numberOfKeys: 1, lua: RESTORE });
    defined.add(conn);
  }
  return conn as RedisConnection & BatchCommands;
}

/** An entry of a batch's outbox: a fired callback, or a nested batch's news for its parent. */
type OutboxEntry =
  | { kind: CallbackKind; spec: { queue: string; name: string; opts: JobOptionsInput }; data: BatchCallbackData; at: number }
  | { kind: 'parent'; parent: string; parentHome: string; child: string; state: 'c' | 's'; at: number };

export interface SettleResult {
  view: BatchView;
  /** Callbacks this settle fired or found undelivered (kind → entry as stored). */
  outbox: [string, string][];
}

const iso = (v: string | undefined): string | null => (v && Number(v) > 0 ? new Date(Number(v)).toISOString() : null);

/**
 * A job of a batch as the store adds it. Workflows (shared/workflows) give
 * some an id of their own, extra options, and make some flow parents
 * (`waits`: added in waiting-children, for the links that gate them).
 */
export type BatchMember = CheckedJob & { jobId?: string; extra?: Record<string, unknown>; waits?: boolean };

/** What a workflow adds to the creating MULTI: more commands (after the jobs, before the meta) and more meta. */
export interface CreateExtension {
  /** Queues commands on the MULTI; returns how many replies they add. */
  commands(multi: ReturnType<RedisConnection['multi']>): Promise<number>;
  /** More meta fields (field, value, …). */
  fields?: (string | number)[];
}

/** The jobs of one queue in a create or add, with their BullMQ options. */
interface QueuePart {
  queue: string;
  jobs: BatchMember[];
  opts: BatchJobOptions[];
}

export interface BatchStoreOptions {
  /**
   * Durable mode (ENQUEUE_MIN_REPLICAS): a fired callback is enqueued only once
   * this many replicas hold its mark, and leaves the outbox only once they hold
   * the callback job, so a failover can neither fire it twice nor lose it.
   */
  minReplicas?: number;
  waitTimeoutMs?: number;
}

export class BatchStore {
  readonly conn: RedisConnection & BatchCommands;
  private readonly queues: QueueSet;
  private readonly gate: FlowGate | undefined;
  private readonly trackers = new Map<string, Queue>();
  private readonly opts: BatchStoreOptions;

  constructor(queues: QueueSet, gate?: FlowGate, opts: BatchStoreOptions = {}) {
    this.queues = queues;
    this.conn = withCommands(queues.connection);
    this.gate = gate;
    this.opts = opts;
  }

  /** Durable mode: WAIT for the replicas of the slot of `key` (throws when too few confirm: the outbox keeps the entry, the sweep retries). */
  private async replicated(key: string): Promise<void> {
    const n = this.opts.minReplicas ?? 0;
    if (n <= 0) return;
    const target = this.conn instanceof Cluster ? masterConnectionFor(this.conn, key) : this.conn;
    const acked = target ? ((await target.call('WAIT', n, this.opts.waitTimeoutMs ?? 2000)) as number) : 0;
    if (acked < n) throw new ConveyorError('DURABILITY_NOT_CONFIRMED', `only ${acked} of ${n} replicas confirmed a batch's callback in time; it stays in the outbox`, { replicas: acked, required: n });
  }

  get isCluster(): boolean {
    return this.conn instanceof Cluster;
  }

  /** The BullMQ queue of a queue's trackers (never consumed; no meta written by building it). */
  tracker(queue: string): Queue {
    let q = this.trackers.get(queue);
    if (!q) {
      q = new Queue(trackerQueueName(queue), { connection: this.queues.connection, prefix: PREFIX, skipWaitingForReady: true, skipMetasUpdate: true });
      q.on('error', () => {});
      this.trackers.set(queue, q);
    }
    return q;
  }

  /** The BullMQ queue of a Conveyor queue (the store's queue set). */
  source(queue: string): Queue {
    return this.queues.source(queue);
  }

  async homeOf(id: string): Promise<string | undefined> {
    return (await this.conn.hget(batchKeys.home, id)) ?? undefined;
  }

  /** The BullMQ options of a batch's jobs on one queue: parent = the queue's tracker, failures ignored by the parent (they are the ledger's dead). */
  private async part(id: string, home: string, queue: string, jobs: BatchMember[]): Promise<QueuePart> {
    const gated = this.gate ? await this.gate.isGated(queue) : false;
    const opts = jobs.map((j) => {
      const o = toBullOptions(j.opts, gated) as BatchJobOptions;
      if (j.jobId !== undefined) o.jobId = j.jobId;
      if (j.extra) Object.assign(o, j.extra);
      // A parent reaches BullMQ's wait list when its links are done, past the gate: the worker's start check admits it.
      if (j.waits) delete o.fg;
      o.bt = id;
      if (queue !== home) o.bh = home;
      o.parent = { id, queue: trackerQueueKey(queue) };
      o.ignoreDependencyOnFailure = true;
      return o;
    });
    return { queue, jobs, opts };
  }

  private splitByQueue(jobs: BatchMember[]): Map<string, BatchMember[]> {
    const byQueue = new Map<string, BatchMember[]>();
    for (const j of jobs) {
      let list = byQueue.get(j.queue);
      if (!list) byQueue.set(j.queue, (list = []));
      list.push(j);
    }
    return byQueue;
  }

  /** Queues the tracker of the batch on `queue` (a BullMQ parent job waiting for children; adding it again adds nothing). */
  private async addTracker(multi: object, queue: string, id: string): Promise<void> {
    const tq = this.tracker(queue);
    const e = new Job(tq, 'batch', { batchId: id }, { jobId: id, attempts: 1 }, id).toFlowEntry({ addToWaitingChildren: true } as never);
    await tq.backend.addJobToTransaction(multi as never, e.jobData, e.jobId, e.parentKeyOpts);
  }

  /** Queues the children of one queue on the MULTI (parked in the flow gate when the queue has per-key limits); returns the replies added beyond one per job. */
  private async addChildren(multi: object, part: QueuePart, id: string): Promise<number> {
    const q = this.queues.source(part.queue);
    const parentKey = trackerKey(part.queue, id);
    for (let i = 0; i < part.jobs.length; i++) {
      const j = part.jobs[i]!;
      const link = { parentKey, parentDependenciesKey: `${parentKey}:dependencies`, ...(j.waits ? { addToWaitingChildren: true } : {}) };
      const e = new Job(q, j.name, j.data ?? null, part.opts[i]!, part.opts[i]!.jobId).toFlowEntry(link as never);
      await q.backend.addJobToTransaction(multi as never, e.jobData, e.jobId, e.parentKeyOpts);
    }
    // Parents wait for their links in waiting-children: only the others are parked by the flow gate.
    const parked = part.jobs.map((j, i) => ({ j, o: part.opts[i]! })).filter((x) => !x.j.waits);
    if (part.opts[0]?.fg === 1 && parked.length > 0) this.gate!.park(multi, part.queue, parked.map(({ j, o }) => ({ id: o.jobId!, key: j.opts?.key ?? NO_KEY, priority: o.priority ?? 0 })));
    return parked.length > 0 && part.opts[0]?.fg === 1 ? 1 : 0;
  }

  private async multi(anyQueue: string): Promise<ReturnType<RedisConnection['multi']>> {
    const q = this.queues.source(anyQueue);
    if (q.closing) throw new ConveyorError('SHUTTING_DOWN', 'the producer is closing');
    return (await q.backend.client).multi() as unknown as ReturnType<RedisConnection['multi']>;
  }

  /**
   * Creates a batch: its trackers, its jobs and its meta in one MULTI (one
   * hash slot on Cluster: a batch there has one queue). The index entries that
   * find it by id are written first, outside the transaction, and removed if
   * it fails: a lookup of an id whose meta does not exist is "not found".
   */
  async create(
    id: string,
    jobs: BatchMember[],
    spec: { callbacks: Partial<Record<CallbackKind, CheckedCallback>>; open: boolean; description: string | undefined; parent?: { id: string; home: string } },
    extension?: CreateExtension,
  ): Promise<{ ids: string[]; home: string; queues: string[] }> {
    const byQueue = this.splitByQueue(jobs);
    const queues = [...byQueue.keys()];
    const home = queues[0]!;
    const parts = await Promise.all(queues.map((q) => this.part(id, home, q, byQueue.get(q)!)));
    for (const q of queues) await this.queues.register(q);
    const now = Date.now();
    await this.conn.multi().hset(batchKeys.home, id, home).zadd(batchKeys.index, now, id).exec();
    try {
      const multi = await this.multi(home);
      for (const q of queues) await this.addTracker(multi, q, id);
      let extra = 0;
      for (const p of parts) extra += await this.addChildren(multi, p, id);
      if (extension) extra += await extension.commands(multi);
      const fields: (string | number)[] = ['id', id, 'home', home, 'queues', JSON.stringify(queues), 'total', jobs.length, 'sealed', spec.open ? 0 : 1, 'createdAt', now];
      if (extension?.fields) fields.push(...extension.fields);
      if (!spec.open) fields.push('sealedAt', now);
      if (spec.description !== undefined) fields.push('description', spec.description);
      if (spec.parent) fields.push('parent', spec.parent.id, 'parentHome', spec.parent.home);
      for (const [kind, cb] of Object.entries(spec.callbacks)) fields.push(`cb:${kind}`, JSON.stringify(cb));
      (multi as unknown as MultiCommands).conveyorBatchInit(batchKeys.meta(home, id), now, ...fields);
      const replies = ((await multi.exec()) ?? []) as [Error | null, unknown][];
      const expected = queues.length + jobs.length + extra + 1;
      if (replies.length !== expected) throw new ConveyorError('REDIS_UNAVAILABLE', `the batch's transaction answered ${replies.length} replies for ${expected} commands`);
      for (const [err, r] of replies) {
        if (err) throw err;
        if (typeof r === 'number' && r < 0) throw new Error(`BullMQ refused a job of the batch (addJob code ${r})`);
      }
    } catch (err) {
      await this.conn.multi().hdel(batchKeys.home, id).zrem(batchKeys.index, id).exec().catch(() => {});
      throw err;
    }
    return { ids: this.idsInOrder(jobs, parts), home, queues };
  }

  /** The new jobs' ids in the order the caller gave the jobs (parts are per queue). */
  private idsInOrder(jobs: BatchMember[], parts: QueuePart[]): string[] {
    const next = new Map(parts.map((p) => [p.queue, { p, i: 0 }]));
    return jobs.map((j) => {
      const at = next.get(j.queue)!;
      return at.p.opts[at.i++]!.jobId!;
    });
  }

  /**
   * Adds jobs to an open batch. GUARD and RESTORE around the adds make it
   * atomic against a seal: a batch sealed before the MULTI runs gets none of
   * them (BATCH_SEALED), one sealed after it has all of them in its total.
   */
  async add(id: string, home: string, known: readonly string[], jobs: CheckedJob[]): Promise<{ ids: string[]; total: number }> {
    const byQueue = this.splitByQueue(jobs);
    const queues = [...byQueue.keys()];
    const fresh = queues.filter((q) => !known.includes(q));
    const parts = await Promise.all(queues.map((q) => this.part(id, home, q, byQueue.get(q)!)));
    if (fresh.length > 0) {
      // Trackers first (adding an existing one adds nothing); RESTORE removes them again if the add is refused.
      const m = await this.multi(home);
      for (const q of fresh) await this.addTracker(m, q, id);
      for (const [err] of ((await m.exec()) ?? []) as [Error | null, unknown][]) if (err) throw err;
    }
    const multi = await this.multi(home);
    const meta = batchKeys.meta(home, id);
    (multi as unknown as MultiCommands).conveyorBatchGuard(meta, id, ...queues);
    for (const p of parts) await this.addChildren(multi, p, id);
    (multi as unknown as MultiCommands).conveyorBatchRestore(meta, id, jobs.length, Date.now(), JSON.stringify(fresh), ...queues);
    const replies = ((await multi.exec()) ?? []) as [Error | null, unknown][];
    const [restoreErr, total] = replies[replies.length - 1] ?? [new Error('no reply'), -1];
    if (restoreErr) throw restoreErr;
    if (typeof total !== 'number' || total < 0) {
      throw new ConveyorError('BATCH_SEALED', `batch "${id}" is sealed: no job can be added to it (nothing was added)`, { id });
    }
    for (const [err, r] of replies) {
      if (err) throw err;
      if (typeof r === 'number' && r < 0) throw new Error(`BullMQ refused a job of the batch (addJob code ${r})`);
    }
    // Registered once they hold jobs (a refused add leaves no queue behind in the list).
    for (const q of queues) await this.queues.register(q);
    return { ids: this.idsInOrder(jobs, parts), total };
  }

  /** The meta fields add() needs: undefined when there is no such batch. */
  async openState(home: string, id: string): Promise<{ sealed: boolean; queues: string[] } | undefined> {
    const [sealed, queues] = await this.conn.hmget(batchKeys.meta(home, id), 'sealed', 'queues');
    if (queues === null || queues === undefined) return undefined;
    return { sealed: sealed === '1', queues: JSON.parse(queues) as string[] };
  }

  /** Registers a nested batch in its parent (before the nested one exists). */
  async registerChild(parent: string, parentHome: string, child: string): Promise<void> {
    const r = await this.conn.conveyorBatchChildRegister(batchKeys.meta(parentHome, parent), batchKeys.children(parentHome, parent), child);
    if (r === -1) throw new ConveyorError('BATCH_NOT_FOUND', `parent: no batch "${parent}"`, { id: parent, path: 'parent' });
    if (r === -2) throw new ConveyorError('BATCH_SEALED', `parent: batch "${parent}" has finished; no batch can be nested in it`, { id: parent, path: 'parent' });
  }

  async forgetChild(parent: string, parentHome: string, child: string): Promise<void> {
    await this.conn.conveyorBatchChildForget(batchKeys.children(parentHome, parent), child);
  }

  /** Runs SETTLE (or STATUS, read only; or SEAL). undefined: no such batch. */
  async run(home: string, id: string, mode: 'status' | 'settle' | 'seal'): Promise<SettleResult | undefined> {
    const r = await this.conn.conveyorBatchSettle(batchKeys.meta(home, id), batchKeys.children(home, id), batchKeys.outbox(home, id), Date.now(), mode, FAILED_LIST_MAX);
    if (!r) return undefined;
    return { view: toView(r), outbox: pairs(r[10] as string[]) };
  }

  /**
   * A worker's settle after a job of the batch finished: the short form
   * (no view), delivering what the outbox holds. Returns how many of its jobs
   * are not finished (undefined: no such batch).
   */
  async tick(home: string, id: string): Promise<number | undefined> {
    const r = await this.conn.conveyorBatchSettle(batchKeys.meta(home, id), batchKeys.children(home, id), batchKeys.outbox(home, id), Date.now(), 'tick', FAILED_LIST_MAX);
    if (!r) return undefined;
    for (const [kind, raw] of pairs(r[2] as string[] | undefined)) await this.deliver(home, id, kind, raw, 0);
    return Number(r[1]);
  }

  /**
   * Settles the batch and delivers what its outbox holds (callbacks it fired
   * now, or that a killed process fired and never enqueued). Safe to call
   * any number of times, from any process, at once.
   */
  async settle(home: string, id: string, mode: 'settle' | 'seal' = 'settle', depth = 0): Promise<BatchView | undefined> {
    const r = await this.run(home, id, mode);
    if (!r) return undefined;
    if (r.outbox.length === 0) return r.view;
    for (const [kind, raw] of r.outbox) await this.deliver(home, id, kind, raw, depth);
    return (await this.run(home, id, 'status'))?.view ?? r.view;
  }

  private async deliver(home: string, id: string, kind: string, raw: string, depth: number): Promise<void> {
    const entry = JSON.parse(raw) as OutboxEntry;
    await this.replicated(batchKeys.outbox(home, id));
    if (entry.kind === 'parent') {
      if (depth < MAX_NESTING) {
        await this.conn.conveyorBatchChildDone(batchKeys.children(entry.parentHome, entry.parent), entry.child, entry.state);
        await this.settle(entry.parentHome, entry.parent, 'settle', depth + 1);
      }
    } else {
      await this.enqueueCallback(id, entry.kind, entry.spec, entry.data);
      await this.replicated(keys.job(entry.spec.queue, callbackJobId(id, entry.kind)));
    }
    await this.conn.conveyorBatchAck(batchKeys.outbox(home, id), batchKeys.meta(home, id), kind, raw, Date.now());
  }

  /**
   * Enqueues a fired callback under its fixed id. A callback job that exists
   * already — in its queue, or as a dead letter — was delivered before: nothing
   * is added. (It is kept 7 days once finished, far longer than a delivery can
   * be late.)
   */
  private async enqueueCallback(id: string, kind: CallbackKind, spec: { queue: string; name: string; opts: JobOptionsInput }, rawData: BatchCallbackData): Promise<void> {
    const jobId = callbackJobId(id, kind);
    const data: BatchCallbackData = { ...rawData, failed: Array.isArray(rawData.failed) ? rawData.failed : [] };
    await this.queues.register(spec.queue);
    const [inQueue, dead] = await Promise.all([this.conn.exists(keys.job(spec.queue, jobId)), this.conn.exists(`${PREFIX}:${deadBullName(spec.queue)}:${jobId}`)]);
    if (inQueue === 1 || dead === 1) return;
    const gated = this.gate ? await this.gate.isGated(spec.queue) : false;
    const opts = { ...toBullOptions({ ...spec.opts, jobId }, gated), removeOnComplete: { age: CALLBACK_KEEP_S } };
    const q = this.queues.source(spec.queue);
    if (!gated) {
      await q.add(spec.name, data, opts);
      return;
    }
    const multi = (await q.backend.client).multi();
    const e = new Job(q, spec.name, data, opts, jobId).toFlowEntry();
    await q.backend.addJobToTransaction(multi, e.jobData, e.jobId, e.parentKeyOpts);
    this.gate!.park(multi, spec.queue, [{ id: jobId, key: spec.opts.key ?? NO_KEY, priority: opts.priority ?? 0 }]);
    for (const [err] of ((await multi.exec()) ?? []) as [Error | null, unknown][]) if (err) throw err;
  }

  /** A job of a batch failed an attempt and will retry: the batch counts it as failed until it finishes. */
  async retrying(queue: string, id: string, jobId: string): Promise<void> {
    await this.conn.sadd(batchKeys.retrying(queue, id), childKey(queue, jobId));
  }

  /**
   * One sweep of a queue's batches: settles those due (a settle a killed worker
   * never ran, a callback it fired and never enqueued) and removes batches
   * finished more than BATCH_KEEP_MS ago. Returns how many it settled.
   */
  async sweep(queue: string, now = Date.now(), max = 100): Promise<number> {
    const due = await this.conn.zrangebyscore(batchKeys.open(queue), '-inf', now, 'LIMIT', 0, max);
    let n = 0;
    for (const member of due) {
      const b = parseOpenMember(member);
      if (!b || !(await this.settle(b.home, b.id))) await this.conn.zrem(batchKeys.open(queue), member);
      else n++;
    }
    const old = await this.conn.zrangebyscore(batchKeys.done(queue), '-inf', now - BATCH_KEEP_MS, 'LIMIT', 0, 20);
    for (const id of old) await this.remove(queue, id);
    return n;
  }

  /** Removes a finished batch: its trackers (with BullMQ's ledger), meta, outbox, children and index entries. */
  async remove(home: string, id: string): Promise<void> {
    const state = await this.openState(home, id);
    for (const q of state?.queues ?? [home]) {
      // Its children are left alone (ordinary jobs, with their own retention); BullMQ's ledger goes with the tracker.
      await this.tracker(q).remove(id, { removeChildren: false }).catch(() => {});
      await this.conn.multi().del(batchKeys.retrying(q, id)).zrem(batchKeys.open(q), openMember(id, home)).exec();
    }
    await this.conn.multi().del(batchKeys.meta(home, id), batchKeys.outbox(home, id), batchKeys.children(home, id), `${trackerKey(home, id)}:workflow`).zrem(batchKeys.done(home), id).exec();
    await this.conn.multi().hdel(batchKeys.home, id).zrem(batchKeys.index, id).exec();
  }

  /** Newest first: ids with their homes. */
  async list(offset: number, limit: number): Promise<{ ids: { id: string; home: string | undefined }[]; total: number }> {
    const [ids, total] = await Promise.all([this.conn.zrevrange(batchKeys.index, offset, offset + limit - 1), this.conn.zcard(batchKeys.index)]);
    const homes = ids.length > 0 ? await this.conn.hmget(batchKeys.home, ...ids) : [];
    return { ids: ids.map((id, i) => ({ id, home: homes[i] ?? undefined })), total };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.trackers.values()].map((q) => q.close()));
    this.trackers.clear();
  }
}

function pairs(flat: string[] | undefined): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; flat && i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

const CALLBACK_NAMES: Record<CallbackKind, 'onSuccess' | 'onComplete' | 'onDeath'> = { success: 'onSuccess', complete: 'onComplete', death: 'onDeath' };

/** SETTLE's answer → the public view. */
function toView(r: unknown[]): BatchView {
  const [state, total, pending, failed, succeeded, dead, cp, cc, cs] = r as [BatchState, number, number, number, number, number, number, number, number];
  const m = Object.fromEntries(pairs(r[9] as string[]));
  const callbacks: BatchView['callbacks'] = {};
  for (const kind of ['success', 'complete', 'death'] as const) {
    const spec = m[`cb:${kind}`];
    if (!spec) continue;
    const cb = JSON.parse(spec) as { queue: string; name: string };
    const view: BatchCallbackView = { queue: cb.queue, name: cb.name, jobId: callbackJobId(m.id!, kind), firedAt: iso(m[`fired:${kind}`]), enqueuedAt: iso(m[`sent:${kind}`]) };
    callbacks[CALLBACK_NAMES[kind]] = view;
  }
  const failedJobs: BatchFailedJob[] = ((r[11] as [string, string, string][]) ?? []).map(([queue, id, error]) => ({ id, queue, error }));
  return {
    id: m.id!,
    description: m.description ?? null,
    state,
    sealed: m.sealed === '1',
    total,
    pending,
    failed,
    succeeded,
    dead,
    progress: total > 0 ? Math.round(((succeeded + dead) / total) * 10_000) / 10_000 : 0,
    queues: JSON.parse(m.queues ?? '[]') as string[],
    createdAt: iso(m.createdAt),
    sealedAt: iso(m.sealedAt),
    completedAt: iso(m.completedAt),
    succeededAt: iso(m.succeededAt),
    callbacks,
    parent: m.parent ?? null,
    children: { total: cp + cc + cs, pending: cp, completed: cc, succeeded: cs },
    failedJobs,
  };
}
