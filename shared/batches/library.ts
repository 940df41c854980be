/**
 * The library's batch specs → the plain form the HTTP API takes: a typed job
 * `{ job: definition, data, opts? }` becomes `{ queue, name, data, opts }`
 * (its definition's key function giving opts.key), a callback given as a
 * definition becomes `{ queue, name, opts }`. The definitions are made known
 * to the core first (validation and defaults, as enqueue does).
 */
import { ConveyorError } from '../errors.ts';
import { isJobDefinition, type AnyJobDefinition, type JobOptions } from '../jobs/define-job.ts';
import type { Core } from '../core.ts';

type Entry = Record<string, unknown>;

async function include(core: Core, job: AnyJobDefinition, from: string): Promise<void> {
  const inc = core.include(job, from);
  if (inc) await inc;
}

function keyed(job: AnyJobDefinition, data: unknown, opts: JobOptions | undefined, where: string): JobOptions | undefined {
  if (!job.key || opts?.key !== undefined) return opts;
  let key: unknown;
  try {
    key = job.key(data);
  } catch (err) {
    throw new ConveyorError('INVALID_REQUEST', `${where}.opts.key: the key function of job "${job.name}" threw: ${(err as Error)?.message ?? String(err)}`, { path: `${where}.opts.key` });
  }
  return { ...opts, key: key as string };
}

export async function plainJobs(core: Core, jobs: unknown, where = 'jobs'): Promise<unknown> {
  if (!Array.isArray(jobs)) return jobs;
  const seen = new Set<AnyJobDefinition>();
  const out: unknown[] = new Array(jobs.length);
  for (let i = 0; i < jobs.length; i++) {
    const e = jobs[i] as Entry | null;
    if (e && typeof e === 'object' && 'job' in e) {
      const def = e.job;
      if (!isJobDefinition(def)) throw new ConveyorError('INVALID_REQUEST', `${where}.${i}.job: not a job definition (made with defineJob)`, { path: `${where}.${i}.job` });
      if (!seen.has(def)) {
        seen.add(def);
        await include(core, def, 'batches');
      }
      const { job: _j, data, opts, ...rest } = e;
      const o = keyed(def, data, opts as JobOptions | undefined, `${where}.${i}`);
      out[i] = { ...rest, queue: def.queue, name: def.name, data, ...(o !== undefined ? { opts: o } : {}) };
    } else out[i] = e;
  }
  return out;
}

async function plainCallback(core: Core, cb: unknown): Promise<unknown> {
  if (isJobDefinition(cb)) {
    await include(core, cb, 'batches');
    return { queue: cb.queue, name: cb.name };
  }
  if (cb && typeof cb === 'object' && 'job' in cb) {
    const { job, ...rest } = cb as Entry;
    if (!isJobDefinition(job)) return cb;
    await include(core, job, 'batches');
    return { ...rest, queue: job.queue, name: job.name };
  }
  return cb;
}

/** A workflow's steps: `{ job: definition, data, opts?, after?, optional? }` → the plain form. */
export async function plainWorkflow(core: Core, spec: unknown): Promise<unknown> {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return spec;
  const s = { ...(spec as Entry) };
  if (s.steps && typeof s.steps === 'object' && !Array.isArray(s.steps)) {
    const steps: Record<string, unknown> = {};
    for (const [name, e] of Object.entries(s.steps as Record<string, unknown>)) {
      if (e && typeof e === 'object' && 'job' in e) {
        const { after, optional, ...job } = e as Entry;
        const [plain] = (await plainJobs(core, [job], `steps.${name}`)) as Entry[];
        steps[name] = { ...plain, ...(after !== undefined ? { after } : {}), ...(optional !== undefined ? { optional } : {}) };
      } else steps[name] = e;
    }
    s.steps = steps;
  }
  for (const k of ['onSuccess', 'onComplete', 'onDeath']) if (s[k] !== undefined) s[k] = await plainCallback(core, s[k]);
  return s;
}

export async function plainSpec(core: Core, spec: unknown): Promise<unknown> {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return spec;
  const s = { ...(spec as Entry) };
  if ('jobs' in s) s.jobs = await plainJobs(core, s.jobs);
  for (const k of ['onSuccess', 'onComplete', 'onDeath']) if (s[k] !== undefined) s[k] = await plainCallback(core, s[k]);
  return s;
}
