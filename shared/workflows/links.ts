/**
 * Workflow edges as BullMQ flows. A step S that runs after A is a flow
 * parent (waiting-children) of a *link* job L(A→S) in the BullMQ queue
 * "{S's queue}.links" (same hash slot). L waits, delayed, until A finishes;
 * then the worker that finished A promotes it, and a links worker completes
 * it with A's result (read from the workflow's ledger, BullMQ's :processed)
 * or fails it with A's error (its :failed). BullMQ does the rest, natively:
 * S leaves waiting-children when its last link completes and reads its
 * dependencies' results with getChildrenValues(); a failed link with
 * failParentOnFailure fails S (a cancelled step, whose own links then fail
 * its dependents in turn); with ignoreDependencyOnFailure (A is `optional`)
 * S runs anyway and sees the failure in getIgnoredChildrenFailures().
 *
 * A link is delayed LINK_POLL_MS at a time: if the promotion after A was lost
 * (a worker killed between A's completion and the promotion), the link comes
 * due by itself, looks at the ledger, and is delayed again while A runs.
 */
import { DelayedError, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from '../log.ts';
import type { RedisConnection } from '../redis/connections.ts';
import { PREFIX } from '../queue/names.ts';
import { childKey, trackerKey } from '../batches/keys.ts';

/** How long a link waits before it looks at its step again by itself (a promotion normally comes first). */
export const LINK_POLL_MS = 30_000;
/** Links one process completes at once. */
const LINK_CONCURRENCY = 50;
const CLOSE_MS = 2000;

function within(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  return Promise.race([p.then(() => 'done' as const, () => 'done' as const), expired]).finally(() => clearTimeout(timer));
}

export function linksQueueName(queue: string): string {
  return `{${queue}}.links`;
}

export function linkId(stepJobId: string, depJobId: string): string {
  return `wfl-${stepJobId}-${depJobId}`;
}

export function linkKey(queue: string, id: string): string {
  return `${PREFIX}:${linksQueueName(queue)}:${id}`;
}

/** What a link carries: its workflow, and the step it waits for. */
export interface LinkData {
  wf: string;
  /** The dependency: its step name, queue and job id. */
  step: string;
  from: { queue: string; id: string };
  /** The step waiting for it. */
  to: string;
}

/** The outgoing links of a step, on its job options ("wfo"): [links queue, link id]. */
export function outgoingLinks(opts: unknown): [string, string][] | undefined {
  const o = (opts as { wfo?: unknown } | undefined)?.wfo;
  return Array.isArray(o) && o.length > 0 ? (o as [string, string][]) : undefined;
}

export class LinkWorkers {
  private readonly conn: RedisConnection;
  private readonly log: Logger;
  private readonly workers = new Map<string, Worker>();
  private readonly queues = new Map<string, Queue>();
  private closed = false;

  constructor(conn: RedisConnection, log: Logger) {
    this.conn = conn;
    this.log = log;
  }

  private queue(queue: string): Queue {
    let q = this.queues.get(queue);
    if (!q) {
      q = new Queue(linksQueueName(queue), { connection: this.conn, prefix: PREFIX, skipWaitingForReady: true, skipMetasUpdate: true });
      q.on('error', () => {});
      this.queues.set(queue, q);
    }
    return q;
  }

  /** A links worker for the queue's links, started the first time they are needed in this process. */
  ensure(queue: string): void {
    if (this.closed || this.workers.has(queue)) return;
    const w = new Worker(linksQueueName(queue), (job, token) => this.process(job as Job<LinkData>, token), {
      connection: this.conn,
      prefix: PREFIX,
      concurrency: LINK_CONCURRENCY,
      autorun: true,
    });
    w.on('error', (err) => this.log.debug({ queue, err: err.message }, 'links worker error'));
    this.workers.set(queue, w);
  }

  /** A step finished: its links are due now (a link already due or gone is left alone). */
  async release(links: readonly [string, string][]): Promise<void> {
    await Promise.all(
      links.map(async ([queue, id]) => {
        this.ensure(queue);
        const job = await Job.fromId(this.queue(queue), id);
        await job?.promote().catch(() => {}); // not delayed any more: being processed, or done
      }),
    );
  }

  /** The sweep: a queue whose links wait (delayed or due) gets a links worker here. */
  async watch(queue: string): Promise<void> {
    if (this.workers.has(queue)) return;
    const base = `${PREFIX}:${linksQueueName(queue)}`;
    const [delayed, wait] = await Promise.all([this.conn.zcard(`${base}:delayed`), this.conn.llen(`${base}:wait`)]);
    if (delayed + wait > 0) this.ensure(queue);
  }

  /** Completes the link with its step's result, fails it with its step's error, or looks again later. */
  private async process(job: Job<LinkData>, token: string | undefined): Promise<unknown> {
    const d = job.data;
    const t = trackerKey(d.from.queue, d.wf);
    const ck = childKey(d.from.queue, d.from.id);
    const [done, failed] = await Promise.all([this.conn.hget(`${t}:processed`, ck), this.conn.hget(`${t}:failed`, ck)]);
    if (done !== null) return JSON.parse(done) as unknown;
    if (failed !== null) throw new UnrecoverableError(`step "${d.step}" failed: ${failed}`);
    if ((await this.conn.exists(t)) !== 1) throw new UnrecoverableError(`step "${d.step}" is gone (its workflow was removed)`);
    await job.moveToDelayed(Date.now() + LINK_POLL_MS, token);
    throw new DelayedError();
  }

  async close(): Promise<void> {
    this.closed = true;
    // A link's work is a couple of reads: anything still running after a moment is abandoned (it is run again).
    await Promise.allSettled([...this.workers.values()].map(async (w) => {
      if ((await within(w.close(), CLOSE_MS)) === 'timeout') await within(w.close(true), CLOSE_MS);
    }));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.workers.clear();
    this.queues.clear();
  }
}
