/**
 * What a producer may send: one schema for the library and the HTTP API, and
 * its mapping to BullMQ job options. Validation happens before any Redis
 * write, so bad input changes nothing.
 */
import { z } from 'zod';
import type { JobsOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { ConveyorError } from '../errors.ts';
import { FLOW_KEY_MESSAGE, isValidFlowKey, isValidJobId, isValidJobName } from './names.ts';

export const MAX_PRIORITY = 2_097_151;
const MAX_DELAY_MS = 10 * 365 * 24 * 3600_000;
const MAX_WINDOW_MS = 7 * 24 * 3600_000;

export const backoffSchema = z.strictObject({
  type: z.enum(['fixed', 'exponential']),
  delay: z.number().int().min(0).max(24 * 3600_000),
  jitter: z.number().min(0).max(1).optional(),
});

/** debounce / throttle: jobs with the same id within the window (the id is per queue). */
const windowSchema = z.strictObject({
  id: z.string().refine(isValidFlowKey, `id ${FLOW_KEY_MESSAGE}`),
  ms: z.number().int('must be a whole number of milliseconds').min(1, 'must be at least 1 ms').max(MAX_WINDOW_MS, `must be at most ${MAX_WINDOW_MS} ms (a week)`),
});

/** The options without their cross-field checks (for schemas made from a subset: schedule-input.ts). */
export const jobOptionsFields = z.strictObject({
  delay: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
  priority: z.number().int().min(0).max(MAX_PRIORITY).optional(),
  attempts: z.number().int().min(1).max(1000).optional(),
  backoff: backoffSchema.optional(),
  jobId: z
    .string()
    .refine(isValidJobId, 'jobId must be 1-128 printable characters, not an integer, without ":"')
    .optional(),
  timeout: z.number().int().min(1).max(24 * 3600_000).optional(),
  /** Durable enqueue for this request: replicas that must hold the job before it is acknowledged. */
  minReplicas: z.number().int().min(0).max(100).optional(),
  /** Flow control: the job's key (a tenant, a customer, an account) for the queue's perKey limits. */
  key: z.string().refine(isValidFlowKey, `key ${FLOW_KEY_MESSAGE} (a tenant, a customer, an account)`).optional(),
  /** Of jobs with the same id within the window only the last one runs (it runs ms after the last enqueue). */
  debounce: windowSchema.optional(),
  /** At most one job per window: a later enqueue answers with the job that holds it (throttled: true). */
  throttle: windowSchema.optional(),
});

export const jobOptionsSchema = jobOptionsFields.superRefine((o, ctx) => {
  if (o.debounce && o.throttle) ctx.addIssue({ code: 'custom', path: ['throttle'], message: 'cannot be combined with debounce (choose one)' });
  if (o.debounce && o.delay !== undefined) ctx.addIssue({ code: 'custom', path: ['delay'], message: 'cannot be combined with debounce (a debounced job runs debounce.ms after the last enqueue)' });
});

export const jobInputSchema = z.strictObject({
  name: z.string().refine(isValidJobName, 'name must be 1-128 printable characters'),
  data: z.unknown().optional(),
  opts: jobOptionsSchema.optional(),
});

export type JobOptionsInput = z.infer<typeof jobOptionsSchema>;
export type JobInput = z.infer<typeof jobInputSchema>;

/** The options Conveyor shows for a job (a subset of BullMQ's). */
export interface PublicJobOptions {
  delay?: number;
  priority?: number;
  attempts?: number;
  backoff?: { type: string; delay?: number; jitter?: number };
  jobId?: string;
  timeout?: number;
  key?: string;
  debounce?: { id: string; ms: number };
  throttle?: { id: string; ms: number };
}

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF = { type: 'exponential', delay: 1000, jitter: 0.5 } as const;
/** Completed jobs kept for lookups: a day, at most 1000 per queue. Failed jobs move to the dead-letter queue. */
export const DEFAULT_KEEP_COMPLETED = { age: 24 * 3600, count: 1000 } as const;

/** Formats a zod error as one line naming the path of the first problem. */
export function describeZodError(err: z.ZodError, root = ''): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid input';
  const path = [root, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return path ? `${path}: ${msg}` : msg;
}

/** Validates one job input (library or API), throwing INVALID_* / PAYLOAD_TOO_LARGE. */
export function parseJobInput(raw: unknown, maxPayloadBytes: number, where = ''): JobInput {
  const parsed = jobInputSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const code = first?.path[0] === 'name' && first.path.length === 1 ? 'INVALID_JOB_NAME' : first?.path.join('.') === 'opts.jobId' ? 'INVALID_JOB_ID' : 'INVALID_REQUEST';
    throw new ConveyorError(code, describeZodError(parsed.error, where), { path: [where, ...(first?.path ?? [])].filter(Boolean).join('.') });
  }
  const size = bytesOverLimit(parsed.data.data, maxPayloadBytes);
  if (size > 0) {
    throw new ConveyorError('PAYLOAD_TOO_LARGE', `${where ? `${where}: ` : ''}data is ${size} bytes; MAX_PAYLOAD_BYTES allows ${maxPayloadBytes}`, {
      bytes: size,
      limit: maxPayloadBytes,
    });
  }
  return parsed.data;
}

export function payloadBytes(data: unknown): number {
  return data === undefined ? 0 : Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
}

/**
 * payloadBytes(data) > limit, without counting UTF-8 bytes when the JSON's
 * length alone decides (a UTF-16 unit is 1 to 3 UTF-8 bytes): the enqueue
 * hot path. Returns the size when over the limit, else 0.
 */
function bytesOverLimit(data: unknown, limit: number): number {
  if (data === undefined) return 0;
  const json = JSON.stringify(data) ?? '';
  if (json.length * 3 <= limit) return 0;
  const size = Buffer.byteLength(json, 'utf8');
  return size > limit ? size : 0;
}

/** BullMQ options for a stored job, with Conveyor's own: `key` (flow key) and `fg` (parked by the flow gate). */
export type StoredJobOptions = JobsOptions & { timeout?: number; key?: string; fg?: 1 };

/**
 * BullMQ options for a validated input. Ids are always ours (UUIDs) unless
 * the caller chose one. `gated`: the enqueue parks the job in the queue's
 * flow gate (flow/gate-scripts.ts), which the worker then trusts to have
 * admitted it. Debounce and throttle are BullMQ's deduplication: debounce
 * replaces the delayed job (and keeps the last one if it is already running),
 * throttle keeps the first one for the window.
 */
export function toBullOptions(opts: JobOptionsInput | undefined, gated = false): StoredJobOptions {
  const o = opts ?? {};
  const delay = o.debounce ? o.debounce.ms : o.delay;
  return {
    jobId: o.jobId ?? randomUUID(),
    attempts: o.attempts ?? DEFAULT_ATTEMPTS,
    backoff: o.backoff ?? { ...DEFAULT_BACKOFF },
    ...(delay ? { delay } : {}),
    ...(o.priority ? { priority: o.priority } : {}),
    ...(o.timeout ? { timeout: o.timeout } : {}),
    ...(o.key !== undefined ? { key: o.key } : {}),
    ...(o.debounce ? { deduplication: { id: o.debounce.id, replace: true, keepLastIfActive: true } } : {}),
    ...(o.throttle ? { deduplication: { id: o.throttle.id, ttl: o.throttle.ms } } : {}),
    ...(gated ? { fg: 1 as const } : {}),
    removeOnComplete: { ...DEFAULT_KEEP_COMPLETED },
    removeOnFail: false,
  };
}

/** The public view of stored BullMQ options. */
export function toPublicOptions(opts: Record<string, unknown> | undefined): PublicJobOptions {
  const o = opts ?? {};
  const out: PublicJobOptions = {};
  if (typeof o.delay === 'number' && o.delay > 0) out.delay = o.delay;
  if (typeof o.priority === 'number' && o.priority > 0) out.priority = o.priority;
  if (typeof o.attempts === 'number') out.attempts = o.attempts;
  if (o.backoff && typeof o.backoff === 'object') out.backoff = o.backoff as PublicJobOptions['backoff'];
  if (typeof o.jobId === 'string') out.jobId = o.jobId;
  if (typeof o.timeout === 'number') out.timeout = o.timeout;
  if (typeof o.key === 'string') out.key = o.key;
  const de = o.deduplication as { id?: unknown; ttl?: unknown; replace?: unknown } | undefined;
  if (de && typeof de.id === 'string') {
    if (de.replace) {
      out.debounce = { id: de.id, ms: typeof o.delay === 'number' ? o.delay : 0 };
      delete out.delay;
    } else out.throttle = { id: de.id, ms: typeof de.ttl === 'number' ? de.ttl : 0 };
  }
  return out;
}
