/**
 * The processor file of Conveyor's sandboxes (shared/runtime/sandbox.ts):
 * BullMQ's child main (main.js in a child process, main-worker.js in a
 * worker thread) imports it and calls its default export for each job, with
 * the job as BullMQ's ChildProcessor rebuilds it (data, opts, updateProgress,
 * log, updateData) and an AbortSignal that BullMQ's Cancel aborts.
 *
 * Its query says what to load, once per sandbox, before the first job:
 *   jobs=<file URL>   the app's jobs module (`--jobs`, createWorker jobsModule):
 *                     its handled job definitions and its `handlers` object;
 *   handlers=<path>   the HANDLERS module or folder (plain handlers);
 *   log=<level>       ctx.log's level (pino, to the sandbox's stdout, which
 *                     BullMQ pipes into the worker's).
 * A module that throws here fails BullMQ's init: the worker records
 * HANDLER_LOAD_FAILED for the attempt and the sandbox exits.
 *
 * A job definition's data is parsed here with its schema (the handler gets
 * the schema's output, as in the worker's process; a mismatch is
 * PAYLOAD_INVALID, which the worker keeps permanent). A plain handler's data
 * was checked by the worker and arrives as the job's data.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Job } from 'bullmq';
import { ConveyorError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { jobsModuleOf } from '../jobs/jobs-module.ts';
import { JobCatalog, type CatalogSource } from '../jobs/job-catalog.ts';
import { loadHandlers } from './handler-files.ts';
import type { Handler, JobContext } from './handler.ts';

const params = new URL(import.meta.url).searchParams;
const jobsUrl = params.get('jobs');
const handlersPath = params.get('handlers');
const mode = isMainThread ? 'process' : 'thread';

// A child process whose worker died (its IPC channel closed) has no one to answer to.
if (isMainThread && typeof process.send === 'function') process.once('disconnect', () => process.exit(0));

const runs = new Map<string, { run: Handler; parse: boolean }>();
const sources: CatalogSource[] = [];
if (jobsUrl) {
  const file = fileURLToPath(jobsUrl);
  const mod = jobsModuleOf((await import(jobsUrl)) as Record<string, unknown>, file, file);
  for (const def of mod.definitions) {
    if (typeof def.run !== 'function') continue;
    runs.set(def.name, { run: def.run as Handler, parse: true });
    sources.push({ definition: def, from: file });
  }
  for (const [name, fn] of Object.entries(mod.handlers)) if (!runs.has(name)) runs.set(name, { run: fn, parse: false });
}
if (handlersPath) {
  for (const [name, fn] of Object.entries(await loadHandlers(handlersPath))) if (!runs.has(name)) runs.set(name, { run: fn, parse: false });
}
const catalog = await JobCatalog.create(sources);
const where = [jobsUrl && fileURLToPath(jobsUrl), handlersPath].filter(Boolean).join(' and ');
const log = createLogger('worker', params.get('log') ?? 'info').child({ sandbox: mode, ...(isMainThread ? {} : { thread: threadId }) });

/** BullMQ's sandboxed job, plus the Conveyor queue name the worker adds. */
type SandboxedJob = Job & { conveyorQueue?: string };

export default async function conveyorSandbox(job: SandboxedJob, _token: unknown, signal?: AbortSignal): Promise<unknown> {
  const entry = runs.get(job.name);
  if (!entry) throw new ConveyorError('HANDLER_LOAD_FAILED', `the sandbox's module (${where || 'none'}) exports no handler for job "${job.name}"`);
  const opts = (job.opts ?? {}) as { attempts?: number; key?: string };
  const ctx: JobContext = {
    id: String(job.id),
    queue: job.conveyorQueue ?? job.queueName,
    name: job.name,
    attempt: (job.attemptsMade ?? 0) + 1,
    maxAttempts: opts.attempts ?? 1,
    key: opts.key,
    signal: signal ?? new AbortController().signal,
    log: log.child({ queue: job.conveyorQueue, jobId: job.id, jobName: job.name }),
    job,
  };
  const data = entry.parse ? await catalog.parse(job.name, job.data) : job.data;
  return entry.run(data, ctx);
}
