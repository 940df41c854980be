/**
 * batchIdOf(ctx): the batch a running job belongs to — to nest a batch in
 * it (`conveyor.batches.create({ parent: batchIdOf(ctx), jobs })`: the outer
 * batch completes only when the nested one does). No Redis, no BullMQ.
 */
import type { JobContext } from '../runtime/handler.ts';

export function batchIdOf(ctx: Pick<JobContext, 'job'>): string | undefined {
  const bt = (ctx.job?.opts as { bt?: unknown } | undefined)?.bt;
  return typeof bt === 'string' ? bt : undefined;
}
