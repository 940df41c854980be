/**
 * Typed job definitions: a job name with its queue, the schema of its data
 * and its default options, as a value that producers enqueue, workers run
 * (once a handler is attached) and the HTTP API documents.
 *
 *   export const sendWelcome = defineJob({ name: 'send-welcome', queue: 'emails', schema: z.object({ userId: z.number() }) });
 *   await conveyor.enqueue(sendWelcome, { userId: 42 });           // type-checked against the schema
 *   export const sendWelcomeJob = sendWelcome.handle(async (data, ctx) => { … });   // for createWorker / --jobs
 *
 * A definition imports nothing heavy (no Redis client, no BullMQ): a module
 * of definitions can be imported by producers without loading the handlers'
 * dependencies. `handle()` returns a new value; the definition itself never
 * changes. The schema is any Standard Schema (zod, valibot, arktype: its
 * input type is the data's type) or a JSON Schema object (give the data's
 * type as defineJob<Data>(…)). Later options (flow control, isolation,
 * history) are fields of the same spec.
 */
import { ConveyorError } from '../errors.ts';
import { isValidJobName, isValidQueueName } from '../queue/names.ts';
import type { JobContext } from '../runtime/handler.ts';

/** Any Standard Schema (https://standardschema.dev): zod 3.24+/4, valibot, arktype… */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    /** Standard JSON Schema (zod 4.2+): how the OpenAPI document gets the schema. */
    readonly jsonSchema?: { readonly input: (options: { target: string }) => Record<string, unknown> } | undefined;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> };

/** A JSON Schema (draft 2020-12 or 07) as a plain object; compiled with Ajv. */
export type JsonSchemaObject = { readonly [keyword: string]: unknown };

export type PayloadSchema = StandardSchemaV1 | JsonSchemaObject;

/** A JSON Schema that carries the data's type (jsonSchema<T>(…)), so defineJob infers it. */
export type TypedJsonSchema<T> = JsonSchemaObject & { readonly '~data'?: T };

/** Tags a JSON Schema with the type of the data it accepts: schema: jsonSchema<{ userId: number }>({ type: 'object', … }). */
export function jsonSchema<T>(schema: JsonSchemaObject): TypedJsonSchema<T> {
  return schema as TypedJsonSchema<T>;
}

/** Options of one job (the HTTP API's `opts`). */
export interface JobOptions {
  /** Wait this long (ms) before the job may run. */
  delay?: number;
  /** 1 is the highest; 0 or absent: none. */
  priority?: number;
  /** Runs at most this many times (default 3), then goes to the dead letters. */
  attempts?: number;
  /** Between attempts (default exponential from 1 s with jitter). */
  backoff?: { type: 'fixed' | 'exponential'; delay: number; jitter?: number };
  /** Idempotency: a second enqueue with the same id adds nothing and answers duplicate: true. */
  jobId?: string;
  /** An attempt running longer (ms) fails with JOB_TIMEOUT and its ctx.signal is aborted. */
  timeout?: number;
  /** Durable enqueue: acknowledged only once this many replicas hold the job. */
  minReplicas?: number;
  /** Flow control: the job's key (a tenant, a customer, an account) for its queue's perKey limits; 1-128 printable characters. */
  key?: string;
  /** Of jobs with the same id within `ms`, only the last one runs (`ms` after the last enqueue). */
  debounce?: { id: string; ms: number };
  /** At most one job with this id per `ms`: a later enqueue answers the first one's id with throttled: true. */
  throttle?: { id: string; ms: number };
}

/** What defineJob takes. */
export interface JobSpec<Name extends string = string, Schema extends PayloadSchema | undefined = PayloadSchema | undefined> {
  /** The job name: 1-128 printable characters. */
  name: Name;
  /** Where it is enqueued by default (default "default"). */
  queue?: string;
  /** The shape of the data: a Standard Schema (zod…) or a JSON Schema object. */
  schema?: Schema;
  /** Options every enqueue of this job starts from; the enqueue's own options win. */
  defaults?: JobOptions;
  /** One line for the OpenAPI document and the dashboard. */
  description?: string;
  /** Flow control: the key of each job from its data (`(data) => data.accountId`), unless the enqueue gives opts.key. */
  key?: (data: InputOf<Schema>) => string;
  /**
   * Where a worker runs the handler: 'none' (in the worker's process), 'process' (a child process) or
   * 'thread' (a worker thread), through BullMQ's sandboxed processors. Default: the worker's
   * (createWorker `isolation`, else WORKER_ISOLATION, else 'none'). A sandboxed job's handler is loaded
   * from its module (createWorker `jobsModule`; `conveyor worker --jobs` passes its file).
   */
  isolation?: Isolation;
}

/** Where a handler runs: in the worker's process, or sandboxed in a child process or a worker thread. */
export type Isolation = 'none' | 'process' | 'thread';
export const ISOLATIONS: readonly Isolation[] = Object.freeze(['none', 'process', 'thread']);

export function isIsolation(value: unknown): value is Isolation {
  return typeof value === 'string' && (ISOLATIONS as readonly string[]).includes(value);
}

export type JobHandlerFn<Data, Result> = (data: Data, ctx: JobContext) => Result | Promise<Result>;

/** The data type a schema accepts (enqueue) and produces (the handler). */
export type InputOf<S> = S extends StandardSchemaV1<infer I, unknown> ? I : S extends TypedJsonSchema<infer T> ? T : unknown;
export type OutputOf<S> = S extends StandardSchemaV1<unknown, infer O> ? O : S extends TypedJsonSchema<infer T> ? T : unknown;

export const JOB_KIND = 'conveyor.job';

/** A typed job. `Data` is what enqueue accepts, `Parsed` what the handler gets, `Result` what it returns. */
export interface JobDefinition<Name extends string = string, Data = unknown, Parsed = Data, Result = unknown> {
  readonly kind: typeof JOB_KIND;
  readonly name: Name;
  readonly queue: string;
  readonly schema: PayloadSchema | undefined;
  readonly defaults: Readonly<JobOptions>;
  readonly description: string | undefined;
  /** The flow key of a job from its data (JobSpec.key). */
  readonly key: ((data: Data) => string) | undefined;
  /** JobSpec.isolation; undefined: the worker's default. */
  readonly isolation: Isolation | undefined;
  /** The handler, when attached (handle()); a definition without one only enqueues. */
  readonly run: JobHandlerFn<Parsed, Result> | undefined;
  /** A job a worker can run: this definition with its handler (the definition itself is unchanged). */
  handle<R extends Result>(run: JobHandlerFn<Parsed, R>): HandledJob<Name, Data, Parsed, Awaited<R>>;
  /** Types only (never set): `typeof job.types.data` and so on. */
  readonly types?: { readonly data: Data; readonly parsed: Parsed; readonly result: Result };
}

/** A definition with its handler: what createWorker({ jobs }) and `conveyor worker --jobs` run. */
export interface HandledJob<Name extends string = string, Data = unknown, Parsed = Data, Result = unknown> extends JobDefinition<Name, Data, Parsed, Result> {
  readonly run: JobHandlerFn<Parsed, Result>;
}

// Definitions are compared structurally (kind), not with instanceof: an app may load two copies of the package.
export type AnyJobDefinition = JobDefinition<string, any, any, any>;
export type DataOf<J> = J extends JobDefinition<string, infer D, any, any> ? D : never;
export type ResultOf<J> = J extends JobDefinition<string, any, any, infer R> ? R : never;

const SPEC_FIELDS = new Set(['name', 'queue', 'schema', 'defaults', 'description', 'key', 'isolation']);

function invalid(name: unknown, why: string): ConveyorError {
  return new ConveyorError('INVALID_JOB_DEFINITION', `defineJob(${typeof name === 'string' ? JSON.stringify(name) : '…'}): ${why}`, typeof name === 'string' ? { job: name } : undefined);
}

export function isStandardSchema(s: unknown): s is StandardSchemaV1 {
  const std = (s as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof std === 'object' && std !== null && typeof std.validate === 'function';
}

/**
 * Defines a job. Checked at once: an invalid name or queue, an unknown field
 * or a schema that is neither kind is an error here, naming the job.
 *
 * Data types: from a Standard Schema's input type, or a JSON Schema tagged
 * with jsonSchema<T>(…); otherwise give it as defineJob<{ userId: number }>({ … }).
 */
export function defineJob<Data = never, Result = unknown, const Name extends string = string, Schema extends PayloadSchema | undefined = PayloadSchema | undefined>(
  spec: JobSpec<Name, Schema>,
): JobDefinition<Name, [Data] extends [never] ? InputOf<Schema> : Data, [Data] extends [never] ? OutputOf<Schema> : Data, Result> {
  if (spec === null || typeof spec !== 'object') throw invalid(undefined, 'expected { name, queue?, schema?, defaults?, description? }');
  const { name } = spec;
  if (!isValidJobName(name)) {
    throw new ConveyorError('INVALID_JOB_NAME', `defineJob: job name ${JSON.stringify(name)} is invalid: use 1-128 printable characters`);
  }
  for (const key of Object.keys(spec)) if (!SPEC_FIELDS.has(key)) throw invalid(name, `unknown field "${key}" (fields: ${[...SPEC_FIELDS].join(', ')})`);
  const queue = spec.queue ?? 'default';
  if (!isValidQueueName(queue)) {
    throw new ConveyorError('INVALID_QUEUE_NAME', `defineJob(${JSON.stringify(name)}): queue name ${JSON.stringify(queue)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  const schema = spec.schema;
  if (schema !== undefined && !isStandardSchema(schema) && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) {
    throw invalid(name, 'schema must be a Standard Schema (zod, valibot…) or a JSON Schema object');
  }
  if (spec.defaults !== undefined && (typeof spec.defaults !== 'object' || spec.defaults === null || Array.isArray(spec.defaults))) {
    throw invalid(name, 'defaults must be an object of job options');
  }
  if (spec.description !== undefined && typeof spec.description !== 'string') throw invalid(name, 'description must be a string');
  if (spec.key !== undefined && typeof spec.key !== 'function') throw invalid(name, 'key must be a function of the job data returning its flow key');
  if (spec.isolation !== undefined && !isIsolation(spec.isolation)) throw invalid(name, `isolation must be one of ${ISOLATIONS.map((i) => `'${i}'`).join(', ')}, got ${JSON.stringify(spec.isolation)}`);
  return makeJob(name, queue, schema, Object.freeze({ ...(spec.defaults ?? {}) }), spec.description, undefined, {}, spec.key as ((data: unknown) => string) | undefined, spec.isolation) as never;
}

/**
 * What a definition and the jobs made from it by handle() share: they are
 * one job (a worker may be given the handled one while the producer knows
 * the definition). A registry symbol, so two copies of the package agree.
 */
const ORIGIN = Symbol.for('conveyor.job-origin');

/** True when both come from one defineJob call (a definition and its handled job, or the same value). */
export function sameJob(a: AnyJobDefinition, b: AnyJobDefinition): boolean {
  if (a === b) return true;
  const oa = (a as unknown as Record<symbol, unknown>)[ORIGIN];
  return oa !== undefined && oa === (b as unknown as Record<symbol, unknown>)[ORIGIN];
}

function makeJob(
  name: string,
  queue: string,
  schema: PayloadSchema | undefined,
  defaults: Readonly<JobOptions>,
  description: string | undefined,
  run: JobHandlerFn<any, any> | undefined,
  origin: object,
  key: ((data: unknown) => string) | undefined,
  isolation: Isolation | undefined,
): AnyJobDefinition {
  const job: AnyJobDefinition = {
    kind: JOB_KIND,
    name,
    queue,
    schema,
    defaults,
    description,
    key,
    isolation,
    run,
    handle(fn) {
      if (typeof fn !== 'function') throw invalid(name, `handle() expects the handler function, got ${fn === null ? 'null' : typeof fn}`);
      return makeJob(name, queue, schema, defaults, description, fn, origin, key, isolation) as never;
    },
  };
  Object.defineProperty(job, ORIGIN, { value: origin, enumerable: false });
  return Object.freeze(job);
}

/** True for a job definition (with or without a handler), from this copy of the package or another. */
export function isJobDefinition(value: unknown): value is AnyJobDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === JOB_KIND && typeof (value as { name?: unknown }).name === 'string';
}

export function isHandledJob(value: unknown): value is HandledJob<string, any, any, any> {
  return isJobDefinition(value) && typeof value.run === 'function';
}
