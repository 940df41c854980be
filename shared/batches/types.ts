/**
 * Batches: the public shapes (types only; `import 'conveyor'` loads none of
 * the batch code). See docs/api.md "Batches".
 */
import type { AnyJobDefinition, DataOf, JobOptions } from '../jobs/define-job.ts';

/** A batch's jobs by where they are; always total = pending + failed + succeeded + dead. */
export interface BatchCounts {
  total: number;
  /** Not finished, and no attempt failed yet (waiting, delayed or running). */
  pending: number;
  /** Not finished, and an attempt failed: it waits for its retry. */
  failed: number;
  succeeded: number;
  /** Failed for good (its dead letter may be replayed: it is then pending again). */
  dead: number;
}

/**
 * open: jobs may still be added (seal() ends that); running: sealed, jobs
 * pending; completed: every job finished, some are dead; succeeded: every job
 * succeeded (a replayed dead job that succeeds can take a completed batch here).
 */
export type BatchState = 'open' | 'running' | 'completed' | 'succeeded';

export interface BatchFailedJob {
  id: string;
  queue: string;
  /** The last attempt's error message (at most 1000 characters). */
  error: string;
}

/** What a callback job gets as its data. */
export interface BatchCallbackData {
  batchId: string;
  /** Which callback this is: onSuccess → "success", onComplete → "complete", onDeath → "death". */
  event: 'success' | 'complete' | 'death';
  /** The counts when it fired. */
  counts: BatchCounts;
  /** The dead jobs when it fired: the first 100, with their errors. */
  failed: BatchFailedJob[];
  description?: string;
}

/** One callback of a batch, as GET shows it. */
export interface BatchCallbackView {
  queue: string;
  name: string;
  /** The callback job's id once fired ("batch-<batch id>-<event>"). */
  jobId: string;
  /** When the batch reached the callback's condition (null: not yet). */
  firedAt: string | null;
  /** When the callback job was enqueued (null: not yet, or still in the outbox). */
  enqueuedAt: string | null;
}

export interface BatchView extends BatchCounts {
  id: string;
  description: string | null;
  state: BatchState;
  sealed: boolean;
  /** (succeeded + dead) / total, from 0 to 1. */
  progress: number;
  /** The queues its jobs are on (the first is its home). */
  queues: string[];
  createdAt: string | null;
  sealedAt: string | null;
  /** When every job had finished (the first time). */
  completedAt: string | null;
  /** When every job had succeeded. */
  succeededAt: string | null;
  callbacks: { onSuccess?: BatchCallbackView; onComplete?: BatchCallbackView; onDeath?: BatchCallbackView };
  /** The batch this one is nested in (it completes only when this one does). */
  parent: string | null;
  /** Nested batches: how many, and how many completed / succeeded. */
  children: { total: number; pending: number; completed: number; succeeded: number };
  /** The dead jobs: the first 100, with their errors. */
  failedJobs: BatchFailedJob[];
}

/** What create answers: the batch and the ids of its jobs, in the order given. */
export interface BatchCreated {
  id: string;
  total: number;
  sealed: boolean;
  ids: string[];
}

/** What add answers. */
export interface BatchAdded {
  id: string;
  /** The batch's total after the add. */
  total: number;
  ids: string[];
}

/** A plain job of a batch (the HTTP API's form): its queue (default "default"), name, data and options. */
export interface PlainBatchJob {
  queue?: string;
  name: string;
  data?: unknown;
  opts?: JobOptions;
}

/** A typed job of a batch: a definition with its data (type-checked against its schema). */
export interface TypedBatchJob<J extends AnyJobDefinition = AnyJobDefinition> {
  job: J;
  data: DataOf<J>;
  opts?: JobOptions;
}

export type BatchJob = TypedBatchJob | PlainBatchJob;

/**
 * A callback: a job definition (its queue, name and defaults), a definition
 * with options, or a plain { queue?, name, opts? }. It is an ordinary job,
 * enqueued once with BatchCallbackData as its data.
 */
export type BatchCallback = AnyJobDefinition | { job: AnyJobDefinition; opts?: JobOptions } | { queue?: string; name: string; opts?: JobOptions };

export interface BatchSpec {
  jobs: readonly BatchJob[];
  /** Every job succeeded (fires once; after a replay of the dead jobs, possibly after onComplete). */
  onSuccess?: BatchCallback;
  /** Every job finished, some may be dead (fires once). */
  onComplete?: BatchCallback;
  /** A job of the batch was dead-lettered (fires once, at the first). */
  onDeath?: BatchCallback;
  /** Keep the batch open for add() until seal(); callbacks other than onDeath wait for the seal. Default false. */
  open?: boolean;
  /** Up to 500 characters, shown with the batch and given to its callbacks. */
  description?: string;
  /** Nest this batch in another (typically from a job of that batch): the parent completes only when this one does. */
  parent?: string;
}

/** Each entry of `jobs` checked against its definition: a wrong data field is a compile error naming it. */
export type CheckedBatchJobs<E extends readonly unknown[]> = { [K in keyof E]: CheckedBatchJob<E[K]> };
/** One entry: a typed job against its definition, anything else as a plain job (distributes over a union of entries). */
export type CheckedBatchJob<T> = T extends { job: infer J extends AnyJobDefinition } ? TypedBatchJob<J> : PlainBatchJob;
