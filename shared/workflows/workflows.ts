/**
 * Workflows: a graph of steps with dependencies, run on BullMQ flows
 * (links.ts). A workflow is a batch whose jobs are its steps — its counts,
 * progress, callbacks (onSuccess, onComplete, onDeath) and retention are the
 * batch's (shared/batches) — plus, for each dependency A → S, a link job that
 * is a flow child of S. Everything is checked first (the graph: cycles,
 * unknown and missing steps → WORKFLOW_INVALID naming the step; every step's
 * job as an enqueue checks it; the callbacks), then created in one MULTI.
 */
import { randomUUID } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import { z } from 'zod';
import { ConveyorError } from '../errors.ts';
import { describeZodError, toBullOptions } from '../queue/job-input.ts';
import type { DeadLetters } from '../queue/dead-letter.ts';
import { PREFIX } from '../queue/names.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { Batches } from '../batches/batches.ts';
import type { BatchMember } from '../batches/store.ts';
import { assertBatchId, CALLBACK_FIELDS, checkCallback, checkJobs, DESCRIPTION_MAX, type CheckContext, type CheckedCallback } from '../batches/input.ts';
import { batchKeys, childKey, openMember, trackerKey, trackerQueueKey, type CallbackKind } from '../batches/keys.ts';
import type { BatchView } from '../batches/types.ts';
import { checkGraph, isValidStepName } from './graph.ts';
import { LINK_POLL_MS, linkId, linkKey, linksQueueName, type LinkData } from './links.ts';

export type StepState = 'blocked' | 'pending' | 'retrying' | 'succeeded' | 'dead' | 'cancelled';

export interface WorkflowStepView {
  /** Its job (an ordinary job of its queue). */
  id: string;
  queue: string;
  name: string;
  after: string[];
  optional: boolean;
  /**
   * blocked: waiting for the steps it runs after; pending: waiting or running;
   * retrying: an attempt failed; succeeded; dead: failed for good; cancelled:
   * a step it runs after failed (it never ran).
   */
  state: StepState;
  error: string | null;
}

export interface WorkflowView extends Omit<BatchView, 'failedJobs'> {
  steps: Record<string, WorkflowStepView>;
  /** The steps in an order where each comes after its dependencies. */
  order: string[];
}

export interface WorkflowCreated {
  id: string;
  /** Step name → its job's id. */
  steps: Record<string, string>;
}

interface StoredStep {
  id: string;
  queue: string;
  name: string;
  after: string[];
  optional: boolean;
}

const stepEntry = z.strictObject({
  queue: z.unknown().optional(),
  name: z.unknown().optional(),
  data: z.unknown().optional(),
  opts: z.unknown().optional(),
  after: z.array(z.string()).optional(),
  optional: z.boolean().optional(),
});

const specSchema = z.strictObject({
  steps: z.record(z.string(), z.unknown()).optional(),
  onSuccess: z.unknown().optional(),
  onComplete: z.unknown().optional(),
  onDeath: z.unknown().optional(),
  description: z.string().max(DESCRIPTION_MAX, `must be at most ${DESCRIPTION_MAX} characters`).optional(),
});

/** The workflow's graph and step jobs, beside its batch meta. */
export const workflowKey = (home: string, id: string) => `${trackerKey(home, id)}:workflow`;

export class Workflows {
  private readonly batches: Batches;
  private readonly ctx: CheckContext;
  private readonly linkQueues = new Map<string, Queue>();

  constructor(batches: Batches, ctx: CheckContext) {
    this.batches = batches;
    this.ctx = ctx;
  }

  private get conn(): RedisConnection {
    return this.batches.store.conn;
  }

  private linksQueue(queue: string): Queue {
    let q = this.linkQueues.get(queue);
    if (!q) {
      q = new Queue(linksQueueName(queue), { connection: this.conn, prefix: PREFIX, skipWaitingForReady: true, skipMetasUpdate: true });
      q.on('error', () => {});
      this.linkQueues.set(queue, q);
    }
    return q;
  }

  /** Checks and creates a workflow; nothing is created when anything is invalid. */
  async create(raw: unknown): Promise<WorkflowCreated> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConveyorError('INVALID_REQUEST', 'a workflow is an object { steps: { name: { job | queue, name, data?, opts?, after?, optional? } }, onSuccess?, onComplete?, onDeath?, description? }');
    const s = specSchema.safeParse(raw);
    if (!s.success) throw new ConveyorError('INVALID_REQUEST', describeZodError(s.error), { path: s.error.issues[0]?.path.join('.') });
    const entries = Object.entries(s.data.steps ?? {});
    // The graph first: a cycle or an unknown step is the error to see, whatever else is wrong.
    const shapes = entries.map(([name, entry]) => {
      if (!isValidStepName(name)) throw new ConveyorError('WORKFLOW_INVALID', `steps: step name ${JSON.stringify(name)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`, { step: name });
      const e = stepEntry.safeParse(entry);
      if (!e.success) throw new ConveyorError('INVALID_REQUEST', `steps.${name}: ${describeZodError(e.error)}`, { step: name, path: `steps.${name}` });
      return { step: name, ...e.data };
    });
    const graph = checkGraph(shapes.map((x) => ({ name: x.step, after: x.after ?? [] })));
    const jobs = await checkJobs(
      shapes.map(({ queue, name, data, opts }) => ({ ...(queue !== undefined ? { queue } : {}), name, ...(data !== undefined ? { data } : {}), ...(opts !== undefined ? { opts } : {}) })),
      this.ctx,
      'steps',
      (i) => `steps.${shapes[i]!.step}`,
    );
    const callbacks: Partial<Record<CallbackKind, CheckedCallback>> = {};
    for (const kind of ['success', 'complete', 'death'] as const) {
      const cb = s.data[CALLBACK_FIELDS[kind]];
      if (cb !== undefined) callbacks[kind] = await checkCallback(cb, kind, this.ctx, s.data.description);
    }
    const queues = new Set(jobs.map((j) => j.queue));
    if (this.batches.store.isCluster && queues.size > 1) {
      throw new ConveyorError('INVALID_REQUEST', 'steps: on Redis Cluster a workflow\'s steps share one queue (one hash slot)', { path: 'steps' });
    }

    // Ids first: links name both ends.
    const id = randomUUID();
    const byName = new Map(shapes.map((x, i) => [x.step, { shape: x, job: jobs[i]!, jobId: randomUUID() }]));
    const members: BatchMember[] = [];
    const links: { queue: string; id: string; parent: string; data: LinkData; optional: boolean }[] = [];
    const stored: Record<string, StoredStep> = {};
    for (const name of graph.order) {
      const { shape, job, jobId } = byName.get(name)!;
      const after = shape.after ?? [];
      const inbound: Record<string, string> = {};
      for (const dep of after) {
        const d = byName.get(dep)!;
        const lid = linkId(jobId, d.jobId);
        inbound[dep] = linkKey(job.queue, lid);
        links.push({ queue: job.queue, id: lid, parent: jobId, optional: d.shape.optional === true, data: { wf: id, step: dep, from: { queue: d.job.queue, id: d.jobId }, to: name } });
      }
      const outbound = (graph.dependents.get(name) ?? []).map((n) => {
        const t = byName.get(n)!;
        return [t.job.queue, linkId(t.jobId, jobId)] as [string, string];
      });
      members.push({ ...job, jobId, waits: after.length > 0, extra: { wfs: name, ...(after.length > 0 ? { wfi: inbound } : {}), ...(outbound.length > 0 ? { wfo: outbound } : {}) } });
      stored[name] = { id: jobId, queue: job.queue, name: job.name, after, optional: shape.optional === true };
    }
    const home = members[0]!.queue;
    await this.batches.createMembers(id, members, { callbacks, open: false, description: s.data.description }, {
      fields: ['kind', 'workflow'],
      commands: async (multi) => {
        for (const l of links) {
          const lq = this.linksQueue(l.queue);
          const parentKey = `${PREFIX}:{${l.queue}}:${l.parent}`;
          const opts = {
            jobId: l.id,
            delay: LINK_POLL_MS,
            attempts: 1,
            removeOnComplete: true,
            removeOnFail: true,
            parent: { id: l.parent, queue: `${PREFIX}:{${l.queue}}` },
            ...(l.optional ? { ignoreDependencyOnFailure: true } : { failParentOnFailure: true }),
          };
          const e = new Job(lq, 'link', l.data, opts, l.id).toFlowEntry({ parentKey, parentDependenciesKey: `${parentKey}:dependencies` } as never);
          await lq.backend.addJobToTransaction(multi as never, e.jobData, e.jobId, e.parentKeyOpts);
        }
        multi.set(workflowKey(home, id), JSON.stringify({ steps: stored, order: graph.order }));
        return links.length + 1;
      },
    });
    return { id, steps: Object.fromEntries(Object.entries(stored).map(([n, st]) => [n, st.id])) };
  }

  /**
   * Runs a failed step again, and with it every step after it that failed or
   * was cancelled: each goes back with its id, data and options (from its dead
   * letter), waiting again for the steps it runs after — the ones that
   * succeeded give their results at once. One MULTI; then the dead letters go.
   * Returns the steps replayed, in order.
   */
  async replay(id: string, step: string, deadLetters: DeadLetters): Promise<string[]> {
    const view = await this.get(id);
    const home = view.queues[0]!;
    const wf = JSON.parse((await this.conn.get(workflowKey(home, id)))!) as { steps: Record<string, StoredStep>; order: string[] };
    const st = view.steps[step];
    if (!st) throw new ConveyorError('WORKFLOW_INVALID', `step "${step}" is not a step of workflow "${id}"`, { step });
    if (st.state !== 'dead' && st.state !== 'cancelled') throw new ConveyorError('INVALID_REQUEST', `step "${step}" is ${st.state}: only a dead or cancelled step is replayed`, { step });
    const failed = (n: string) => view.steps[n]!.state === 'dead' || view.steps[n]!.state === 'cancelled';
    const dependents = new Map<string, string[]>(wf.order.map((n) => [n, []]));
    for (const n of wf.order) for (const d of wf.steps[n]!.after) dependents.get(d)!.push(n);
    // From the failures upstream of the step (a cancelled step is replayed from the step that failed),
    // through every failed or cancelled step after them.
    const upstream = new Set<string>([step]);
    for (const n of [...wf.order].reverse()) if (upstream.has(n)) for (const d of wf.steps[n]!.after) upstream.add(d);
    const roots = [...upstream].filter((n) => failed(n) && wf.steps[n]!.after.every((d) => !failed(d)));
    const affected = new Set<string>(roots);
    for (const n of wf.order) if (affected.has(n)) for (const m of dependents.get(n)!) if (failed(m)) affected.add(m);
    const order = wf.order.filter((n) => affected.has(n));
    const letters = await Promise.all(order.map(async (n) => {
      const d = await deadLetters.get(wf.steps[n]!.queue, wf.steps[n]!.id);
      if (!d) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `step "${n}": its dead letter is gone (dropped); it cannot be replayed`, { step: n });
      return d;
    }));
    const store = this.batches.store;
    const multi = (await store.tracker(home).backend.client).multi() as unknown as ReturnType<RedisConnection['multi']>;
    for (let i = 0; i < order.length; i++) {
      const n = order[i]!;
      const s = wf.steps[n]!;
      const letter = letters[i]!;
      const inbound = Object.fromEntries(s.after.map((d) => [d, linkKey(s.queue, linkId(s.id, wf.steps[d]!.id))]));
      const outbound = dependents.get(n)!.map((m) => [wf.steps[m]!.queue, linkId(wf.steps[m]!.id, s.id)]);
      const q = this.batches.store.source(s.queue);
      const tk = trackerKey(s.queue, id);
      const opts = {
        ...toBullOptions({ attempts: letter.opts.attempts, backoff: letter.opts.backoff as never, priority: letter.opts.priority, timeout: letter.opts.timeout, key: letter.opts.key, jobId: s.id }),
        bt: id,
        ...(s.queue !== home ? { bh: home } : {}),
        parent: { id, queue: trackerQueueKey(s.queue) },
        ignoreDependencyOnFailure: true,
        wfs: n,
        ...(s.after.length > 0 ? { wfi: inbound } : {}),
        ...(outbound.length > 0 ? { wfo: outbound } : {}),
      };
      const link = { parentKey: tk, parentDependenciesKey: `${tk}:dependencies`, ...(s.after.length > 0 ? { addToWaitingChildren: true } : {}) };
      const e = new Job(q, s.name, letter.data ?? null, opts, s.id).toFlowEntry(link as never);
      await q.backend.addJobToTransaction(multi as never, e.jobData, e.jobId, e.parentKeyOpts);
      for (const d of s.after) {
        const dep = wf.steps[d]!;
        const lid = linkId(s.id, dep.id);
        const parentKey = `${PREFIX}:{${s.queue}}:${s.id}`;
        const lq = this.linksQueue(s.queue);
        // A dependency that succeeded gives its result now; one replayed with this step releases its link when it finishes.
        const lo = {
          jobId: lid,
          ...(affected.has(d) ? { delay: LINK_POLL_MS } : {}),
          attempts: 1,
          removeOnComplete: true,
          removeOnFail: true,
          parent: { id: s.id, queue: `${PREFIX}:{${s.queue}}` },
          ...(dep.optional ? { ignoreDependencyOnFailure: true } : { failParentOnFailure: true }),
        };
        const le = new Job(lq, 'link', { wf: id, step: d, from: { queue: dep.queue, id: dep.id }, to: n } satisfies LinkData, lo, lid).toFlowEntry({ parentKey, parentDependenciesKey: `${parentKey}:dependencies` } as never);
        await lq.backend.addJobToTransaction(multi as never, le.jobData, le.jobId, le.parentKeyOpts);
      }
      multi.hdel(`${tk}:failed`, childKey(s.queue, s.id));
      multi.srem(batchKeys.retrying(s.queue, id), childKey(s.queue, s.id));
      multi.zadd(batchKeys.open(s.queue), Date.now() + 5000, openMember(id, home));
    }
    const replies = ((await multi.exec()) ?? []) as [Error | null, unknown][];
    for (const [err, r] of replies) {
      if (err) throw err;
      if (typeof r === 'number' && r < 0) throw new Error(`BullMQ refused a replayed step (addJob code ${r})`);
    }
    for (let i = 0; i < order.length; i++) await deadLetters.drop(wf.steps[order[i]!]!.queue, wf.steps[order[i]!]!.id).catch(() => {});
    return order;
  }

  /** The workflow: the batch's counts and callbacks, and each step's state. */
  async get(id: string): Promise<WorkflowView> {
    assertBatchId(id);
    const { failedJobs: _f, ...batch } = await this.batches.get(id);
    const home = batch.queues[0]!;
    const raw = await this.conn.get(workflowKey(home, id));
    if (raw === null) throw new ConveyorError('BATCH_NOT_FOUND', `no workflow "${id}" (a batch of that id is not a workflow)`, { id });
    const wf = JSON.parse(raw) as { steps: Record<string, StoredStep>; order: string[] };
    const names = wf.order;
    const p = this.conn.pipeline();
    for (const n of names) {
      const st = wf.steps[n]!;
      const t = trackerKey(st.queue, id);
      const ck = childKey(st.queue, st.id);
      p.hexists(`${t}:processed`, ck).hget(`${t}:failed`, ck).sismember(batchKeys.retrying(st.queue, id), ck).zscore(`${PREFIX}:{${st.queue}}:waiting-children`, st.id);
    }
    const r = ((await p.exec()) ?? []).map(([, v]) => v);
    const steps: Record<string, WorkflowStepView> = {};
    names.forEach((n, i) => {
      const [done, failed, retrying, blocked] = r.slice(i * 4, i * 4 + 4) as [number, string | null, number, string | null];
      const st = wf.steps[n]!;
      const cancelled = failed !== null && /^child \S+\.links:wfl-/.test(failed);
      const state: StepState = done ? 'succeeded' : failed !== null ? (cancelled ? 'cancelled' : 'dead') : retrying ? 'retrying' : blocked !== null ? 'blocked' : 'pending';
      steps[n] = { id: st.id, queue: st.queue, name: st.name, after: st.after, optional: st.optional, state, error: failed !== null && !cancelled ? failed : cancelled ? 'a step it runs after failed' : null };
    });
    return { ...batch, steps, order: names };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.linkQueues.values()].map((q) => q.close()));
    this.linkQueues.clear();
  }
}
