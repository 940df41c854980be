/**
 * Inside a workflow step's handler: the results of the steps it runs after
 * (BullMQ's getChildrenValues of its links), and the failures of its
 * optional ones (getIgnoredChildrenFailures). No Redis client of its own,
 * no BullMQ import: it asks the step's own job.
 *
 *   const { fetch, resize } = await stepResults<{ fetch: User; resize: string }>(ctx);
 */
import type { JobContext } from '../runtime/handler.ts';

type StepJob = {
  opts?: unknown;
  getChildrenValues?: () => Promise<Record<string, unknown>>;
  getIgnoredChildrenFailures?: () => Promise<Record<string, string>>;
};

function inbound(ctx: Pick<JobContext, 'job'>): Record<string, string> {
  const wfi = ((ctx.job as StepJob | undefined)?.opts as { wfi?: unknown } | undefined)?.wfi;
  return wfi && typeof wfi === 'object' ? (wfi as Record<string, string>) : {};
}

/** The step's name in its workflow (undefined outside a workflow). */
export function stepOf(ctx: Pick<JobContext, 'job'>): string | undefined {
  const s = ((ctx.job as StepJob | undefined)?.opts as { wfs?: unknown } | undefined)?.wfs;
  return typeof s === 'string' ? s : undefined;
}

/** Step name → result, for each step this one runs after that succeeded. */
export async function stepResults<T extends Record<string, unknown> = Record<string, unknown>>(ctx: Pick<JobContext, 'job'>): Promise<Partial<T>> {
  const links = inbound(ctx);
  if (Object.keys(links).length === 0) return {};
  const values = (await (ctx.job as StepJob).getChildrenValues?.()) ?? {};
  const out: Record<string, unknown> = {};
  for (const [step, key] of Object.entries(links)) if (key in values) out[step] = values[key];
  return out as Partial<T>;
}

/** Step name → error, for each optional step this one runs after that failed (it ran anyway). */
export async function stepFailures(ctx: Pick<JobContext, 'job'>): Promise<Record<string, string>> {
  const links = inbound(ctx);
  if (Object.keys(links).length === 0) return {};
  const failures = (await (ctx.job as StepJob).getIgnoredChildrenFailures?.()) ?? {};
  const out: Record<string, string> = {};
  for (const [step, key] of Object.entries(links)) if (key in failures) out[step] = failures[key]!;
  return out;
}
