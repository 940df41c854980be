/**
 * The JSON the HTTP API takes and answers, as TypeScript types: the contract
 * of /v1 (README "HTTP API", GET /v1/openapi.json). Written here rather than
 * imported from the server's modules so the client depends on the contract,
 * not on the code behind it; test/http-client.redis.test.ts checks that
 * every answer of a real server matches the OpenAPI document, and that
 * these types and the server's own types agree.
 *
 * Names follow the library's (JobView, QueueSummary, DeadLetter, Page,
 * ScheduleView: the same shapes as Conveyor's methods return); envelopes
 * only the HTTP API has are named after their OpenAPI component.
 */
import type { AnyJobDefinition, DataOf, JobOptions } from '../shared/jobs/define-job.ts';

export type { JobOptions };

/** A job's state: BullMQ's waiting, prioritized and waiting-children are all "waiting"; "failed" is on its way to the dead letters. */
export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'dead';

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  dead: number;
  /** Waiting jobs held back by a pause. */
  paused: number;
}

/** GET /v1/queues/{queue}, and each entry of GET /v1/queues. */
export interface QueueSummary {
  name: string;
  paused: boolean;
  counts: QueueCounts;
}

/** GET /v1/queues */
export interface QueueList {
  queues: QueueSummary[];
}

/** A job's options as the API shows them (defaults filled in by the server where it has them). */
export interface JobViewOptions {
  delay?: number;
  priority?: number;
  attempts?: number;
  backoff?: { type: string; delay?: number; jitter?: number };
  jobId?: string;
  timeout?: number;
}

/** One job (GET /v1/queues/{queue}/jobs/{id}, pages of GET /v1/queues/{queue}/jobs); times are ISO 8601. */
export interface JobView {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  data: unknown;
  opts: JobViewOptions;
  attemptsMade: number;
  returnValue: unknown;
  failedReason: string | null;
  /** Dead letters only. */
  stacktrace?: string[];
  createdAt: string | null;
  processedAt: string | null;
  finishedAt: string | null;
  /** Dead letters only. */
  deadAt?: string | null;
}

/** A job that used up its attempts (GET /v1/queues/{queue}/dead). */
export interface DeadLetter {
  id: string;
  queue: string;
  name: string;
  state: 'dead';
  data: unknown;
  opts: JobViewOptions;
  attemptsMade: number;
  returnValue: null;
  failedReason: string;
  stacktrace: string[];
  createdAt: string | null;
  processedAt: string | null;
  finishedAt: string | null;
  deadAt: string | null;
}

/** A page of a list: offset and limit as the server applied them. */
export interface Page<T> {
  jobs: T[];
  total: number;
  offset: number;
  limit: number;
}

export interface PageOptions {
  /** Default 0. */
  offset?: number;
  /** Default 50, at most 500. */
  limit?: number;
}

/** One job to enqueue, of any name. */
export interface JobInput<Data = unknown> {
  name: string;
  data?: Data;
  opts?: JobOptions;
}

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

/** Options of each job a schedule enqueues (no jobId, no delay: the cron says when). */
export type ScheduleOptions = Pick<JobOptions, 'attempts' | 'backoff' | 'priority' | 'timeout'>;

/** PUT /v1/schedules/{id}; for a job definition's type J the name and data are its. */
export type ScheduleInput<J extends AnyJobDefinition = never> = {
  queue: string;
  /** 5 fields, or 6 with seconds first, or an alias (@daily). */
  cron: string;
  /** IANA time zone, default UTC. */
  tz?: string;
  opts?: ScheduleOptions;
} & ([J] extends [never] ? { name: string; data?: unknown } : J extends AnyJobDefinition ? { name: J['name']; data?: DataOf<J> } : never);

export interface ScheduleView {
  id: string;
  queue: string;
  name: string;
  cron: string;
  tz: string;
  data: unknown;
  opts: ScheduleOptions;
  paused: boolean;
  /** The next 5 run times (ISO 8601, UTC); empty while paused. */
  nextRuns: string[];
  /** When the latest scheduled run started, while that job is kept. */
  lastRunAt?: string;
  createdAt: string;
  updatedAt: string;
  /** "config": from the SCHEDULES file; PUT and DELETE answer 409. */
  managedBy: 'api' | 'config';
}

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
