/**
 * `conveyor/http-client`: a typed client of Conveyor's HTTP API over fetch,
 * for apps that enqueue and inspect jobs without a Redis connection.
 *
 *   import { createHttpClient, isConveyorHttpError } from 'conveyor/http-client';
 *   import type { sendWelcome } from './jobs.ts';       // types only: nothing of the job is loaded
 *
 *   const client = createHttpClient({ baseUrl: 'http://127.0.0.1:3000', token });
 *   await client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userId: 42 } });
 *
 * Loading it loads no Redis client, BullMQ, express or job code: only fetch.
 */
export { createHttpClient, DEFAULT_TIMEOUT_MS } from './client.ts';
export type { CallOptions, HttpClient, HttpClientOptions, HttpOperations, ListJobsOptions, OperationId } from './client.ts';
export { CLIENT_CODES, ConveyorHttpError, isConveyorHttpError } from './http-error.ts';
export type { ClientCode, HttpErrorCode, HttpErrorInit } from './http-error.ts';
export type {
  BatchAdded,
  BatchCallbackData,
  BatchCallbackInput,
  BatchCounts,
  BatchCreated,
  BatchFailedJob,
  BatchInput,
  BatchJobInput,
  BatchState,
  BatchView,
  StepState,
  WorkflowCreated,
  WorkflowInput,
  WorkflowStepInput,
  WorkflowStepView,
  WorkflowView,
  BulkResult,
  DeadLetter,
  Dropped,
  EnqueueResult,
  ErrorBody,
  Health,
  HistoryAttempt,
  HistoryEventView,
  HistoryJob,
  HistoryPage,
  HistoryQuery,
  HistoryTimeline,
  JobInput,
  JobInputOf,
  JobOptions,
  JobState,
  JobView,
  JobViewOptions,
  OpenApiDocument,
  LimitsStatus,
  Page,
  PageOptions,
  QueueCounts,
  QueueLimits,
  QueueList,
  QueueSummary,
  Readiness,
  Replayed,
  ScheduleDeleted,
  ScheduleInput,
  ScheduleList,
  ScheduleOptions,
  ScheduleRunResult,
  ScheduleView,
} from './api-types.ts';
