/**
 * What a batch may be made of, checked before any Redis command: the spec's
 * fields, every job (as an enqueue checks it: name, options, size, its
 * schema, its definition's defaults) and every callback (a valid job, known
 * to this process when it knows its jobs, whose schema accepts the data a
 * callback gets). Bad input is an error naming the field; nothing is written.
 */
import { z } from 'zod';
import { ConveyorError } from '../errors.ts';
import { describeZodError, jobOptionsSchema, parseJobInput, payloadBytes, type JobOptionsInput } from '../queue/job-input.ts';
import { isValidJobName, isValidQueueName } from '../queue/names.ts';
import type { JobCatalog } from '../jobs/job-catalog.ts';
import type { BatchCallbackData } from './types.ts';
import type { CallbackKind } from './keys.ts';

/** Jobs one create or add may carry; more go into an open batch with add(). */
export const BATCH_MAX_JOBS = 10_000;
/** The failed jobs a callback's data and GET list (the counts are always complete). */
export const FAILED_LIST_MAX = 100;
export const DESCRIPTION_MAX = 500;
/** The payloads of one create or add may add up to this many × MAX_PAYLOAD_BYTES. */
export const BATCH_PAYLOAD_FACTOR = 16;
/** Handlers every worker has (worker/handlers): a callback may name them without a definition. */
const BUILTIN_JOBS: ReadonlySet<string> = new Set(['http', 'noop', 'sleep', 'fail']);

const BATCH_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function isValidBatchId(id: unknown): id is string {
  return typeof id === 'string' && BATCH_ID.test(id);
}

export function assertBatchId(id: unknown, where = 'batch id'): asserts id is string {
  if (!isValidBatchId(id)) throw new ConveyorError('INVALID_REQUEST', `${where} ${JSON.stringify(id)} is invalid: use 1-128 characters of A-Z a-z 0-9 . _ -`, { path: where });
}

export interface CheckedJob {
  queue: string;
  name: string;
  data: unknown;
  opts: JobOptionsInput | undefined;
}

export interface CheckedCallback {
  queue: string;
  name: string;
  /** The options of the callback job (its definition's defaults under its own). */
  opts: JobOptionsInput;
}

export interface CheckedSpec {
  jobs: CheckedJob[];
  callbacks: Partial<Record<CallbackKind, CheckedCallback>>;
  open: boolean;
  description: string | undefined;
  parent: string | undefined;
}

export interface CheckContext {
  maxPayloadBytes: number;
  catalog?: JobCatalog | undefined;
}

const specSchema = z.strictObject({
  jobs: z.unknown().optional(),
  onSuccess: z.unknown().optional(),
  onComplete: z.unknown().optional(),
  onDeath: z.unknown().optional(),
  open: z.boolean().optional(),
  description: z.string().max(DESCRIPTION_MAX, `must be at most ${DESCRIPTION_MAX} characters`).optional(),
  parent: z.string().optional(),
});

const jobEntry = z.strictObject({ queue: z.unknown().optional(), name: z.unknown().optional(), data: z.unknown().optional(), opts: z.unknown().optional() });
const callbackEntry = z.strictObject({ queue: z.unknown().optional(), name: z.unknown().optional(), opts: z.unknown().optional() });

export const CALLBACK_FIELDS: Record<CallbackKind, 'onSuccess' | 'onComplete' | 'onDeath'> = { success: 'onSuccess', complete: 'onComplete', death: 'onDeath' };

function invalid(path: string, message: string): ConveyorError {
  return new ConveyorError('INVALID_REQUEST', `${path}: ${message}`, { path });
}

function checkQueue(queue: unknown, path: string): string {
  const q = queue ?? 'default';
  if (!isValidQueueName(q)) {
    throw new ConveyorError('INVALID_QUEUE_NAME', `${path}: queue name ${JSON.stringify(q)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`, { path });
  }
  return q;
}

/** Options a job of a batch may not have: each job is a new one that must run and report to the batch. */
function refuseBatchOptions(opts: JobOptionsInput | undefined, path: string, what: string): void {
  if (!opts) return;
  if (opts.jobId !== undefined) throw invalid(`${path}.opts.jobId`, `${what} gets its id from the batch; a jobId is not allowed`);
  if (opts.debounce !== undefined) throw invalid(`${path}.opts.debounce`, `${what} cannot be debounced (only the last of a debounced group runs)`);
  if (opts.throttle !== undefined) throw invalid(`${path}.opts.throttle`, `${what} cannot be throttled (a throttled enqueue adds nothing)`);
}

/** The jobs of a create or add. */
export function checkJobs(raw: unknown, ctx: CheckContext, where = 'jobs', pathOf: (i: number) => string = (i) => `${where}.${i}`): CheckedJob[] | Promise<CheckedJob[]> {
  if (!Array.isArray(raw)) throw invalid(where, 'expected an array of jobs');
  if (raw.length === 0) throw invalid(where, 'a batch needs at least one job');
  if (raw.length > BATCH_MAX_JOBS) {
    throw new ConveyorError('BATCH_TOO_LARGE', `${where}: ${raw.length} jobs in one call; a batch takes at most ${BATCH_MAX_JOBS} per call (create it open and add the rest with add(), then seal it)`, { limit: BATCH_MAX_JOBS, path: where });
  }
  const catalog = ctx.catalog && ctx.catalog.size > 0 ? ctx.catalog : undefined;
  const pending: Promise<void>[] = [];
  let bytes = 0;
  const jobs = raw.map((entry, i): CheckedJob => {
    const path = pathOf(i);
    const shape = jobEntry.safeParse(entry);
    if (!shape.success) throw invalid(path, describeZodError(shape.error));
    const queue = checkQueue(shape.data.queue, `${path}.queue`);
    const { queue: _q, ...input } = shape.data;
    const job = parseJobInput(input, ctx.maxPayloadBytes, path);
    if (catalog) {
      const defaults = catalog.defaultsOf(job.name);
      if (defaults) job.opts = { ...defaults, ...job.opts } as JobOptionsInput;
      const v = catalog.validate(job.name, job.data, path);
      if (v) pending.push(v);
    }
    refuseBatchOptions(job.opts, path, 'a job of a batch');
    bytes += payloadBytes(job.data);
    return { queue, name: job.name, data: job.data, opts: job.opts };
  });
  const limit = ctx.maxPayloadBytes * BATCH_PAYLOAD_FACTOR;
  if (bytes > limit) {
    throw new ConveyorError('PAYLOAD_TOO_LARGE', `${where}: the payloads add up to ${bytes} bytes; one call takes at most ${limit} (${BATCH_PAYLOAD_FACTOR} × MAX_PAYLOAD_BYTES)`, { bytes, limit });
  }
  return pending.length > 0 ? Promise.all(pending).then(() => jobs) : jobs;
}

/** The data a callback gets, for checking a callback's schema at creation. */
export function sampleCallbackData(kind: CallbackKind, description: string | undefined): BatchCallbackData {
  const dead = kind === 'success' ? 0 : 1;
  return {
    batchId: 'batch-sample',
    event: kind,
    counts: { total: 2, pending: 0, failed: 0, succeeded: 2 - dead, dead },
    failed: dead ? [{ id: 'job-sample', queue: 'default', error: 'Error: sample' }] : [],
    ...(description !== undefined ? { description } : {}),
  };
}

export async function checkCallback(raw: unknown, kind: CallbackKind, ctx: CheckContext, description: string | undefined): Promise<CheckedCallback> {
  const path = CALLBACK_FIELDS[kind];
  const shape = callbackEntry.safeParse(raw);
  if (!shape.success) throw invalid(path, describeZodError(shape.error));
  const queue = checkQueue(shape.data.queue, `${path}.queue`);
  const name = shape.data.name;
  if (!isValidJobName(name)) throw new ConveyorError('INVALID_JOB_NAME', `${path}.name: job name ${JSON.stringify(name)} is invalid: use 1-128 printable characters`, { path: `${path}.name` });
  const o = jobOptionsSchema.safeParse(shape.data.opts ?? {});
  if (!o.success) throw invalid(`${path}.opts`, describeZodError(o.error));
  const catalog = ctx.catalog && ctx.catalog.size > 0 ? ctx.catalog : undefined;
  if (catalog && !catalog.get(name) && !BUILTIN_JOBS.has(name)) {
    const known = catalog.names;
    throw new ConveyorError(
      'UNKNOWN_JOB_NAME',
      `${path}.name: no job "${name}" is known to this process (known: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}); a callback must be a job a worker can run`,
      { path: `${path}.name`, name },
    );
  }
  const opts = { ...(catalog?.defaultsOf(name) ?? {}), ...o.data } as JobOptionsInput;
  refuseBatchOptions(opts, path, 'a callback');
  if (catalog) {
    try {
      await catalog.validate(name, sampleCallbackData(kind, description), path);
    } catch (err) {
      if (!(err instanceof ConveyorError) || err.code !== 'PAYLOAD_INVALID') throw err;
      throw new ConveyorError('PAYLOAD_INVALID', `${path}: the schema of job "${name}" refuses the data a batch callback gets (BatchCallbackData): ${err.message}`, { ...err.details, path });
    }
  }
  return { queue, name, opts };
}

/** A whole create: the spec, its jobs, its callbacks. */
export async function checkSpec(raw: unknown, ctx: CheckContext): Promise<CheckedSpec> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConveyorError('INVALID_REQUEST', 'a batch is an object { jobs, onSuccess?, onComplete?, onDeath?, open?, description?, parent? }');
  const s = specSchema.safeParse(raw);
  if (!s.success) throw new ConveyorError('INVALID_REQUEST', describeZodError(s.error), { path: s.error.issues[0]?.path.join('.') });
  if (s.data.parent !== undefined) assertBatchId(s.data.parent, 'parent');
  const jobs = await checkJobs(s.data.jobs, ctx);
  const callbacks: CheckedSpec['callbacks'] = {};
  for (const kind of ['success', 'complete', 'death'] as const) {
    const cb = s.data[CALLBACK_FIELDS[kind]];
    if (cb !== undefined) callbacks[kind] = await checkCallback(cb, kind, ctx, s.data.description);
  }
  return { jobs, callbacks, open: s.data.open ?? false, description: s.data.description, parent: s.data.parent };
}
