/**
 * The `conveyor` package's main entry: what an app imports.
 *
 *   import { Conveyor, defineJob } from 'conveyor';
 *
 * Everything here is public and kept stable; everything else in the package
 * is internal (the exports map refuses deep imports). Loading this module
 * loads no Redis client and no BullMQ (Conveyor.connect does), no express,
 * no dashboard.
 */
import './node-version.ts';

export { Conveyor } from './conveyor.ts';
export type { ConveyorOptions, ConnectExtras, EnqueuedJob, JobInput, ListJobsOptions, WaitOptions } from './conveyor.ts';
export type { ConfigOptions } from './config/options.ts';

export { defineJob, jsonSchema, isJobDefinition } from './jobs/define-job.ts';
export type {
  AnyJobDefinition,
  DataOf,
  HandledJob,
  JobDefinition,
  JobHandlerFn,
  JobOptions,
  JobSpec,
  JsonSchemaObject,
  PayloadSchema,
  ResultOf,
  StandardSchemaV1,
  TypedJsonSchema,
} from './jobs/define-job.ts';
export type { JobContext } from './runtime/handler.ts';

export { ConveyorError, ERROR_CODES, isConveyorError } from './errors.ts';
export type { ErrorCode } from './errors.ts';

export type { JobState, JobView, QueueCounts, QueueSummary } from './queue/inspector.ts';
export type { DeadLetter, Page } from './queue/dead-letter.ts';
export type { DeadLetterActionOptions, DeadLetterReport, DeadLetterSelection } from './queue/dead-letter-actions.ts';
export type { PutResult, ScheduleView } from './queue/schedules.ts';
export type { WorkerBeat } from './queue/fleet.ts';
export type { LimitsStatus } from './conveyor.ts';
export { batchIdOf } from './batches/context.ts';
export { stepFailures, stepOf, stepResults } from './workflows/context.ts';
export type { CheckedSteps, StepState, WorkflowCreated, WorkflowSpec, WorkflowStep, WorkflowStepView, WorkflowView } from './workflows/types.ts';
export type {
  BatchAdded,
  BatchCallback,
  BatchCallbackData,
  BatchCounts,
  BatchCreated,
  BatchFailedJob,
  BatchJob,
  BatchSpec,
  BatchState,
  BatchView,
  PlainBatchJob,
  TypedBatchJob,
} from './batches/types.ts';
export type { QueueLimits, KeyLimits, Rate, HeldBy } from './flow/limits.ts';
