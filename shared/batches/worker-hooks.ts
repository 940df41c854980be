/**
 * What a worker does for batches. A plain job costs nothing: the WorkerHost
 * calls in here only for jobs whose options carry a batch id (`bt`).
 *
 * - A batch job finished (completed, or failed for good): BullMQ has already
 *   recorded it in the batch's ledger, atomically with the job's own state
 *   (the tracker is its flow parent). The worker asks the batch to settle —
 *   at most one SETTLE per batch in flight in this process, and one more if
 *   jobs of it finished meanwhile — so callbacks fire as soon as their
 *   condition holds, and once however many workers finish at once.
 * - A batch job failed an attempt and will retry: it goes into the batch's
 *   retrying set (the batch's "failed" count).
 * - Every SWEEP_MS, each consumed queue's batches that are due are settled:
 *   after a kill -9 between BullMQ's completion and the settle, a failover
 *   that lost a settle, or a callback fired but never enqueued.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import type { FlowGate } from '../flow/gate.ts';
import { BatchStore, batchOf, type BatchStoreOptions } from './store.ts';
import { LinkWorkers, outgoingLinks } from '../workflows/links.ts';

/** How often a worker sweeps the batches of the queues it consumes. */
export const SWEEP_MS = 2000;
/** A batch with more unfinished jobs than this is settled at most every FAR_SETTLE_MS by a worker (its callbacks cannot be due). */
export const NEAR_END = 256;
export const FAR_SETTLE_MS = 25;

export class BatchHooks {
  readonly store: BatchStore;
  private readonly log: Logger;
  /** Per batch (home/id): a settle in flight, and whether another one is wanted after it. */
  private readonly settling = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Per batch far from its end: how many of its jobs were unfinished at its last settle here. */
  private readonly unfinished = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Workflow links (shared/workflows/links.ts): workers for them start when first needed. */
  private readonly links: LinkWorkers;

  constructor(queues: QueueSet, gate: FlowGate | undefined, log: Logger, opts: BatchStoreOptions = {}) {
    this.store = new BatchStore(queues, gate, opts);
    this.log = log;
    this.links = new LinkWorkers(queues.connection, log);
  }

  /** Starts the sweep of these queues' batches. */
  start(queues: () => Iterable<string>): void {
    this.timer = setInterval(() => void this.sweep(queues()), SWEEP_MS);
    this.timer.unref();
  }

  /** A batch job completed, or failed for good. */
  finished(queue: string, job: Job): void {
    const b = batchOf(job.opts);
    if (!b) return;
    this.settleSoon(b.home ?? queue, b.id);
    this.release(job);
  }

  /** A workflow step finished: the steps after it may go (their links are due). */
  private release(job: Job): void {
    const out = outgoingLinks(job.opts);
    if (!out) return;
    this.links.release(out).catch((err: unknown) => this.log.warn({ jobId: job.id, err: String(err) }, 'workflow: could not release the next steps yet; their links look again by themselves'));
  }

  /** A batch job's attempt failed; `final`: no attempt left (BullMQ recorded it as the batch's dead). */
  failed(queue: string, job: Job, final: boolean): void {
    const b = batchOf(job.opts);
    if (!b) return;
    if (final) {
      this.settleSoon(b.home ?? queue, b.id);
      this.release(job);
      return;
    }
    this.store.retrying(queue, b.id, String(job.id)).catch((err: unknown) => this.log.debug({ batch: b.id, err: String(err) }, 'batch: could not count a retrying job'));
  }

  private settleSoon(home: string, id: string): void {
    const k = `${home}\n${id}`;
    const cur = this.settling.get(k);
    if (cur) {
      cur.again = true;
      return;
    }
    const entry = { again: false, done: Promise.resolve() };
    this.settling.set(k, entry);
    entry.done = (async () => {
      // Far from its end (more than NEAR_END unfinished at the last settle), a batch is settled at most
      // every FAR_SETTLE_MS from here; near it, at once. The one after the last job always runs.
      let unfinished = this.unfinished.get(k) ?? 0;
      do {
        entry.again = false;
        if (unfinished > NEAR_END) await new Promise<void>((r) => setTimeout(r, FAR_SETTLE_MS));
        else await new Promise<void>((r) => setImmediate(r));
        try {
          unfinished = (await this.store.tick(home, id)) ?? 0;
          if (unfinished > NEAR_END) this.unfinished.set(k, unfinished);
          else this.unfinished.delete(k);
        } catch (err) {
          // The sweep settles it later (every SWEEP_MS: the batch stays in its queue's open set).
          this.log.warn({ batch: id, err: String(err) }, 'batch: settle failed; the sweep will retry');
        }
      } while (entry.again);
      this.settling.delete(k);
    })();
  }

  async sweep(queues: Iterable<string>): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const q of queues) {
        try {
          await this.links.watch(q);
          const n = await this.store.sweep(q);
          if (n > 0) this.log.debug({ queue: q, settled: n }, 'batch sweep');
        } catch (err) {
          this.log.debug({ queue: q, err: String(err) }, 'batch sweep failed; next time');
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** Stops the sweep and waits for the settles in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.settling.values()].map((e) => e.done));
    await this.links.close();
    await this.store.close();
  }
}
