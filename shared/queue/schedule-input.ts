/**
 * What a schedule is made of, for the API and the SCHEDULES file: one schema,
 * validated completely (shape, queue and job names, cron and time zone,
 * payload size) before anything is written.
 */
import { z } from 'zod';
import { ConveyorError, type ErrorCode } from '../errors.ts';
import { isValidJobName } from './names.ts';
import { describeZodError, jobOptionsFields, payloadBytes } from './job-input.ts';
import { assertQueueName } from './producer.ts';
import { DEFAULT_TZ, validateCron } from './cron.ts';

const SCHEDULE_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function isValidScheduleId(id: unknown): id is string {
  return typeof id === 'string' && SCHEDULE_ID.test(id);
}

export function assertScheduleId(id: unknown): asserts id is string {
  if (!isValidScheduleId(id)) {
    throw new ConveyorError('INVALID_REQUEST', `schedule id ${JSON.stringify(id)} is invalid: use 1-128 characters of A-Z a-z 0-9 . _ -`);
  }
}

/** The job options a schedule may give its jobs: no jobId (each run has its own) and no delay (the cron says when). */
export const scheduleOptionsSchema = jobOptionsFields.pick({ attempts: true, backoff: true, priority: true, timeout: true });

export const scheduleInputSchema = z.strictObject({
  queue: z.string(),
  name: z.string().refine(isValidJobName, 'name must be 1-128 printable characters'),
  cron: z.string(),
  tz: z.string().optional(),
  data: z.unknown().optional(),
  opts: scheduleOptionsSchema.optional(),
});

/** An entry of the SCHEDULES file: the same fields plus the id. */
export const scheduleFileEntrySchema = scheduleInputSchema.extend({ id: z.string().refine(isValidScheduleId, 'id must be 1-128 characters of A-Z a-z 0-9 . _ -') });

export type ScheduleOptions = z.infer<typeof scheduleOptionsSchema>;

/** A validated schedule: tz defaults to UTC, absent data is null. */
export interface ScheduleDefinition {
  queue: string;
  name: string;
  cron: string;
  tz: string;
  data: unknown;
  opts: ScheduleOptions;
}

function zodFailure(err: z.ZodError): ConveyorError {
  const first = err.issues[0];
  const path = first?.path.map(String).join('.') ?? '';
  const code: ErrorCode = path === 'name' ? 'INVALID_JOB_NAME' : 'INVALID_REQUEST';
  return new ConveyorError(code, describeZodError(err), { path });
}

/** Checks names, cron, zone and size of an already shape-checked input. */
function complete(input: z.infer<typeof scheduleInputSchema>, maxPayloadBytes: number): ScheduleDefinition {
  assertQueueName(input.queue);
  const { cron, tz } = validateCron(input.cron, input.tz ?? DEFAULT_TZ);
  const size = payloadBytes(input.data);
  if (size > maxPayloadBytes) {
    throw new ConveyorError('PAYLOAD_TOO_LARGE', `data is ${size} bytes; MAX_PAYLOAD_BYTES allows ${maxPayloadBytes}`, { bytes: size, limit: maxPayloadBytes });
  }
  return { queue: input.queue, name: input.name, cron, tz, data: input.data ?? null, opts: input.opts ?? {} };
}

/** Validates an API body `{queue, name, cron, tz?, data?, opts?}`. */
export function parseScheduleInput(raw: unknown, maxPayloadBytes: number): ScheduleDefinition {
  const parsed = scheduleInputSchema.safeParse(raw);
  if (!parsed.success) throw zodFailure(parsed.error);
  return complete(parsed.data, maxPayloadBytes);
}

/**
 * Validates the whole SCHEDULES file text: a JSON array of
 * `{id, queue, name, cron, tz?, data?, opts?}` with unique ids. Any problem is
 * CONFIG_INVALID naming the file, the entry and the field.
 */
export function parseScheduleFile(text: string, file: string, maxPayloadBytes: number): Map<string, ScheduleDefinition> {
  const fail = (why: string, cause?: unknown) => new ConveyorError('CONFIG_INVALID', `SCHEDULES file ${file}: ${why}`, { variable: 'SCHEDULES' }, { cause });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw fail(`not valid JSON (${(err as Error).message})`, err);
  }
  if (!Array.isArray(raw)) throw fail('expected a JSON array of {id, queue, name, cron, tz?, data?, opts?}');
  const out = new Map<string, ScheduleDefinition>();
  raw.forEach((entry, i) => {
    const label = `entry ${i}${isValidScheduleId((entry as { id?: unknown } | null)?.id) ? ` (id "${(entry as { id: string }).id}")` : ''}`;
    const parsed = scheduleFileEntrySchema.safeParse(entry);
    if (!parsed.success) throw fail(`${label}: ${describeZodError(parsed.error)}`);
    const { id, ...input } = parsed.data;
    if (out.has(id)) throw fail(`${label}: the id "${id}" appears more than once`);
    try {
      out.set(id, complete(input, maxPayloadBytes));
    } catch (err) {
      throw fail(`${label}: ${(err as Error).message}`, err);
    }
  });
  return out;
}
