/**
 * Flow limits: what a queue's limits may say, validated before anything is
 * written (bad input changes nothing), and the key a job may carry.
 *
 *   { concurrency?, rate?: { max, perMs },          fleet-wide, per queue (BullMQ's global limits)
 *     perKey?: { concurrency?, rate?, overrides?: { [key]: { concurrency?, rate? } } } }   the gate
 */
import { z } from 'zod';
import { ConveyorError } from '../errors.ts';
import { describeZodError } from '../queue/job-input.ts';

import { isValidFlowKey, FLOW_KEY_MESSAGE, NO_KEY, NO_KEY_LABEL } from '../queue/names.ts';

export { isValidFlowKey, FLOW_KEY_MESSAGE, NO_KEY, NO_KEY_LABEL };


export const MAX_CONCURRENCY = 100_000;
export const MAX_RATE = 1_000_000;
export const MIN_PER_MS = 10;
export const MAX_PER_MS = 24 * 3600_000;
export const MAX_OVERRIDES = 1000;

const concurrency = z.number().int('must be a whole number').min(1, 'must be at least 1').max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`);

export const rateSchema = z.strictObject({
  max: z.number().int('must be a whole number').min(1, 'must be at least 1').max(MAX_RATE, `must be at most ${MAX_RATE}`),
  perMs: z.number().int('must be a whole number of milliseconds').min(MIN_PER_MS, `must be at least ${MIN_PER_MS} ms`).max(MAX_PER_MS, `must be at most ${MAX_PER_MS} ms (a day)`),
});

const keyLimitsSchema = z.strictObject({ concurrency: concurrency.optional(), rate: rateSchema.optional() });

export const limitsSchema = z.strictObject({
  concurrency: concurrency.optional(),
  rate: rateSchema.optional(),
  perKey: z
    .strictObject({
      concurrency: concurrency.optional(),
      rate: rateSchema.optional(),
      overrides: z
        .record(z.string().refine(isValidFlowKey, FLOW_KEY_MESSAGE), keyLimitsSchema)
        .refine((o) => Object.keys(o).length <= MAX_OVERRIDES, `at most ${MAX_OVERRIDES} overrides`)
        .optional(),
    })
    .optional(),
});

export type Rate = z.infer<typeof rateSchema>;
export type KeyLimits = z.infer<typeof keyLimitsSchema>;
/** A queue's limits as set and shown. Absent fields: no limit. */
export type QueueLimits = z.infer<typeof limitsSchema>;

/** Validates limits (API body, library call, LIMITS file entry); throws INVALID_REQUEST naming the field. */
export function parseLimits(raw: unknown, where = ''): QueueLimits {
  const r = limitsSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ConveyorError('INVALID_REQUEST', describeZodError(r.error, where), { path: [where, ...(first?.path ?? [])].filter((p) => p !== '').join('.') });
  }
  return normalized(r.data);
}

/** Drops empty parts ({perKey: {}} is a gate with no limits: it still serves keys round-robin, so keep it). */
function normalized(l: QueueLimits): QueueLimits {
  const out: QueueLimits = {};
  if (l.concurrency !== undefined) out.concurrency = l.concurrency;
  if (l.rate) out.rate = l.rate;
  if (l.perKey) {
    const pk: NonNullable<QueueLimits['perKey']> = {};
    if (l.perKey.concurrency !== undefined) pk.concurrency = l.perKey.concurrency;
    if (l.perKey.rate) pk.rate = l.perKey.rate;
    if (l.perKey.overrides && Object.keys(l.perKey.overrides).length > 0) pk.overrides = l.perKey.overrides;
    out.perKey = pk;
  }
  return out;
}

/** Why a job is not running yet although it could be. */
export type HeldBy = 'rate' | 'concurrency' | 'key-concurrency' | 'key-rate';

/** One line for logs and the CLI. */
export function describeLimits(l: QueueLimits | undefined): string {
  if (!l || Object.keys(l).length === 0) return 'no limits';
  const parts: string[] = [];
  if (l.concurrency !== undefined) parts.push(`concurrency ${l.concurrency}`);
  if (l.rate) parts.push(`rate ${l.rate.max}/${l.rate.perMs} ms`);
  if (l.perKey) {
    const pk: string[] = [];
    if (l.perKey.concurrency !== undefined) pk.push(`concurrency ${l.perKey.concurrency}`);
    if (l.perKey.rate) pk.push(`rate ${l.perKey.rate.max}/${l.perKey.rate.perMs} ms`);
    const n = Object.keys(l.perKey.overrides ?? {}).length;
    if (n > 0) pk.push(`${n} override${n === 1 ? '' : 's'}`);
    parts.push(`per key: ${pk.length > 0 ? pk.join(', ') : 'round-robin only'}`);
  }
  return parts.join('; ');
}
