/**
 * The JSON the HTTP API takes and answers, as TypeScript types: the contract
 * of /v1 (README "HTTP API", GET /v1/openapi.json). The shapes the library
 * returns too (JobView, QueueSummary, DeadLetter, Page, ScheduleView) are the
 * library's own types, imported as types only (nothing of the server is
 * loaded): one definition each, the same in `conveyor` and here.
 * test/http-client.redis.test.ts checks that every answer of a real server
 * matches the OpenAPI document. Envelopes only the HTTP API has are named
 * after their OpenAPI component.
 */
import type { LimitsStatus } from '../shared/conveyor.ts';
import type { QueueLimits } from '../shared/flow/limits.ts';
import type { AnyJobDefinition, DataOf, JobOptions } from '../shared/jobs/define-job.ts';
import type { JobState } from '../shared/queue/job-state.ts';
import type { JobView, QueueCounts, QueueSummary } from '../shared/queue/inspector.ts';
import type { DeadLetter, Page } from '../shared/queue/dead-letter.ts';
import type { PublicJobOptions } from '../shared/queue/job-input.ts';
import type { ScheduleView } from '../shared/queue/schedules.ts';
import type { ScheduleOptions } from '../shared/queue/schedule-input.ts';
import type { JobInput } from '../shared/conveyor.ts';
import type { BatchAdded, BatchCallbackData, BatchCounts, BatchCreated, BatchFailedJob, BatchState, BatchView, PlainBatchJob } from '../shared/batches/types.ts';

/** POST /v1/batches, GET /v1/batches/{id}…: the library's own shapes (one definition each). */
export type { BatchAdded, BatchCallbackData, BatchCounts, BatchCreated, BatchFailedJob, BatchState, BatchView };
/** One job of a batch (the HTTP form: its queue, default "default"). */
export type BatchJobInput = PlainBatchJob;
/** A callback of a batch: an ordinary job, enqueued once with BatchCallbackData as its data. */
export interface BatchCallbackInput {
  queue?: string;
  name: string;
  opts?: JobOptions;
}
/** POST /v1/workflows, GET /v1/workflows/{id}: the library's own shapes. */
export type { StepState, WorkflowCreated, WorkflowStepView, WorkflowView } from '../shared/workflows/types.ts';
/** One step of a workflow (the HTTP form). */
export interface WorkflowStepInput extends BatchJobInput {
  after?: readonly string[];
  optional?: boolean;
}
/** POST /v1/workflows */
export interface WorkflowInput {
  steps: Record<string, WorkflowStepInput>;
  onSuccess?: BatchCallbackInput;
  onComplete?: BatchCallbackInput;
  onDeath?: BatchCallbackInput;
  description?: string;
}
/** POST /v1/batches */
export interface BatchInput {
  jobs: readonly BatchJobInput[];
  onSuccess?: BatchCallbackInput;
  onComplete?: BatchCallbackInput;
  onDeath?: BatchCallbackInput;
  open?: boolean;
  description?: string;
  parent?: string;
}
import type { HistoryAttempt, HistoryEventView, HistoryJob, HistoryPage, HistoryTimeline } from '../shared/history/store.ts';

export type { DeadLetter, JobOptions, JobState, JobView, Page, QueueCounts, QueueSummary, ScheduleOptions, ScheduleView };
/** A job's options as the API shows them (defaults filled in by the server where it has them). */
export type JobViewOptions = PublicJobOptions;

/** GET /v1/queues */
/** GET/PUT/DELETE /v1/queues/{queue}/limits */
export type { LimitsStatus, QueueLimits };

export interface QueueList {
  queues: QueueSummary[];
}

export interface PageOptions {
  /** Default 0. */
  offset?: number;
  /** Default 50, at most 500. */
  limit?: number;
}

/** One job to enqueue, of any name (the library's enqueue(queue, job) takes the same). */
export type { JobInput };

/**
 * The body of one job: for a job definition's type J, its name and its data
 * type (a wrong field is a compile error naming it); for none, JobInput.
 */
export type JobInputOf<J extends AnyJobDefinition = never> = [J] extends [never]
  ? JobInput
  : J extends AnyJobDefinition
    ? { name: J['name']; opts?: JobOptions } & DataField<DataOf<J>>
    : never;

// A payload whose type admits undefined may be left out, as the server reads a missing data as null.
type DataField<D> = undefined extends D ? { data?: D } : { data: D };

/** 201 (created) or 200 with duplicate: true (a job with this opts.jobId already existed: nothing was added). */
export interface EnqueueResult {
  id: string;
  queue: string;
  name: string;
  duplicate?: true;
  /** 200: a job with the same opts.throttle.id holds the window; `id` is that job's, nothing was added. */
  throttled?: true;
}

/** POST /v1/queues/{queue}/jobs/bulk: the ids in the order of the jobs. */
export interface BulkResult {
  ids: string[];
}

export interface Replayed {
  replayed: number;
}

export interface Dropped {
  dropped: number;
}

/** PUT /v1/schedules/{id}; for a job definition's type J the name and data are its. */
export type ScheduleInput<J extends AnyJobDefinition = never> = {
  queue: string;
  /** 5 fields, or 6 with seconds first, or an alias (@daily). */
  cron: string;
  /** IANA time zone, default UTC. */
  tz?: string;
  opts?: ScheduleOptions;
} & ([J] extends [never] ? { name: string; data?: unknown } : J extends AnyJobDefinition ? { name: J['name']; data?: DataOf<J> } : never);

export interface ScheduleList {
  schedules: ScheduleView[];
}

export interface ScheduleDeleted {
  id: string;
  deleted: true;
}

/** POST /v1/schedules/{id}/run: the job it enqueued. */
export interface ScheduleRunResult {
  id: string;
  queue: string;
  name: string;
  /** The schedule's id. */
  schedule: string;
}

export interface Health {
  status: 'ok';
}

export interface Readiness {
  status: 'ready';
  /** "master", or "cluster" for a Redis Cluster. */
  role: string;
}

/** GET /v1/openapi.json: an OpenAPI 3.1 document (only its outline is typed). */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; [key: string]: unknown };
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The body of an error answer. Some codes carry more fields (DURABILITY_NOT_CONFIRMED: ids, replicas, required). */
export interface ErrorBody {
  error: { code: string; message: string; [field: string]: unknown };
}

/** GET /v1/history and GET /v1/queues/{queue}/jobs/{id}/timeline (HistoryJob, HistoryPage, HistoryEvent, HistoryAttempt, JobTimeline in the document). */
export type { HistoryAttempt, HistoryEventView, HistoryJob, HistoryPage, HistoryTimeline };

/** The filters of GET /v1/history (all optional); data: payload fields by path ({ 'user.id': 42 }). */
export interface HistoryQuery {
  queue?: string;
  name?: string;
  state?: 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'dead' | 'dropped' | 'removed';
  key?: string;
  /** ISO 8601 or epoch ms. */
  since?: string | number;
  until?: string | number;
  q?: string;
  data?: Record<string, string | number | boolean | null>;
  limit?: number;
  cursor?: string;
}
