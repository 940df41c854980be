/** Workflows: the public shapes (types only). See docs/api.md "Workflows". */
import type { AnyJobDefinition } from '../jobs/define-job.ts';
import type { BatchCallback, PlainBatchJob, TypedBatchJob } from '../batches/types.ts';

export type { StepState, WorkflowCreated, WorkflowStepView, WorkflowView } from './workflows.ts';

/** One step: a job (typed or plain) with the steps it runs after. */
export type WorkflowStep = (TypedBatchJob | PlainBatchJob) & {
  /** The steps whose results this one needs: it runs once they all succeeded. */
  after?: readonly string[];
  /** Its failure does not cancel the steps after it: they run anyway (and see the failure in stepFailures(ctx)). */
  optional?: boolean;
};

export interface WorkflowSpec {
  steps: Record<string, WorkflowStep>;
  /** Every step succeeded. */
  onSuccess?: BatchCallback;
  /** Every step finished (succeeded, dead or cancelled). */
  onComplete?: BatchCallback;
  /** The first step that failed for good (cancelled steps count as dead too). */
  onDeath?: BatchCallback;
  description?: string;
}

/** Each step checked against its definition, and its `after` against the workflow's step names. */
export type CheckedSteps<S> = { [K in keyof S]: CheckedStep<S[K], keyof S & string> };
export type CheckedStep<T, Names extends string> = (T extends { job: infer J extends AnyJobDefinition } ? TypedBatchJob<J> : PlainBatchJob) & {
  after?: readonly Names[];
  optional?: boolean;
};
