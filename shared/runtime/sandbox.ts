/**
 * Sandboxed handlers (isolation 'process' | 'thread'): the job runs in a child
 * process or a worker thread through BullMQ's sandboxed-processor machinery,
 * not a new one: BullMQ's `Child` forks (or starts a worker thread on) its own
 * main.js / main-worker.js, whose ChildProcessor imports the processor file
 * (Conveyor's sandbox-entry, which imports the app's module) and speaks
 * BullMQ's Init / Start / Completed / Failed / Cancel protocol.
 *
 * BullMQ's Worker takes one processor file for a whole queue; Conveyor
 * chooses per job name, so the Handler of a sandboxed name drives a `Child`
 * itself, as BullMQ's own sandbox.ts does: retain an idle child (or start
 * one), send Start with job.asJSONSandbox(), relay progress / log / data
 * updates to the real job, settle on Completed or Failed, release the child.
 * On top of that:
 *  - ctx.signal aborted (the job's timeout, a forced stop): the attempt fails
 *    at once with the signal's reason; the child gets BullMQ's Cancel (its
 *    handler's signal aborts) and is killed CANCEL_GRACE_MS later unless it
 *    answered: a `while (true) {}` cannot hold a worker slot past its timeout;
 *  - the child exits mid-job (process.exit, a fatal error, out of memory under
 *    SANDBOX_MAX_HEAP_MB): HANDLER_CRASHED, retried like any failure;
 *  - the child cannot load its module: HANDLER_LOAD_FAILED, likewise.
 * A ConveyorError thrown in the sandbox keeps its code (PAYLOAD_INVALID stays
 * permanent), as does an UnrecoverableError.
 *
 * The pool is not BullMQ's ChildPool: that one logs every failed start with
 * console.error and attaches no 'error' listener to its children (a worker
 * thread that runs out of memory emits 'error', which would throw in the
 * worker's process). Its bound is the worker's concurrency: a child is
 * started only when no idle one is free, for a job the worker is running.
 */
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Child, ChildCommand, ParentCommand, UnrecoverableError } from 'bullmq';
import { ConveyorError, ERROR_CODES, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Handler, JobContext } from './handler.ts';

export type SandboxMode = 'process' | 'thread';

/** After a Cancel, how long a sandboxed handler has to answer before its child is killed. */
export const CANCEL_GRACE_MS = 200;
/** How long a new sandbox may take to load its module before the attempt fails with HANDLER_LOAD_FAILED. */
export const LOAD_TIMEOUT_MS = 30_000;
/** How long an idle child may take to exit on SIGTERM (Stop for a thread) at close before it is killed. */
const CLOSE_GRACE_MS = 2000;

/** What a sandbox loads: the module of the jobs (`--jobs`, createWorker jobsModule) and/or the HANDLERS path. */
export interface SandboxSources {
  /** Absolute path of the module exporting job definitions (and a `handlers` object). */
  jobsModule?: string;
  /** Absolute HANDLERS path (a module or a folder of modules). */
  handlersModule?: string;
}

/** The processor file BullMQ's child imports: Conveyor's entry, told what to load in its query. */
export function sandboxProcessFile(sources: SandboxSources, logLevel: string): string {
  // sandbox-entry.ts beside this file in the sources (tsx), sandbox-entry.js in dist/.
  const url = new URL(`./sandbox-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  if (sources.jobsModule) url.searchParams.set('jobs', pathToFileURL(sources.jobsModule).href);
  if (sources.handlersModule) url.searchParams.set('handlers', sources.handlersModule);
  url.searchParams.set('log', logLevel);
  return url.href;
}

/** BullMQ's child mains (the CommonJS build, which `import 'bullmq'` loads in Node). */
function mainFile(mode: SandboxMode): string {
  const index = createRequire(import.meta.url).resolve('bullmq');
  return join(dirname(index), 'classes', mode === 'thread' ? 'main-worker.js' : 'main.js');
}

const VALUE_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C', '--disable-warning']);
const BOOLEAN_FLAGS = new Set([
  '--enable-source-maps',
  '--experimental-strip-types',
  '--no-experimental-strip-types',
  '--experimental-transform-types',
  '--no-warnings',
  '--no-deprecation',
]);

/**
 * The Node flags a sandbox gets: the worker's module loaders and the like
 * (`--import tsx` when the worker runs from TypeScript sources), once each.
 * BullMQ would pass the whole process.execArgv, which under `node --test`
 * holds dozens of runner and inspector flags, some of which a worker thread
 * refuses (ERR_WORKER_INVALID_EXEC_ARGV).
 */
export function sandboxExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (flag: string) => {
    if (seen.has(flag)) return;
    seen.add(flag);
    out.push(flag);
  };
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (VALUE_FLAGS.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : execArgv[++i];
      if (value !== undefined) add(`${name === '-r' ? '--require' : name === '-C' ? '--conditions' : name}=${value}`);
    } else if (BOOLEAN_FLAGS.has(arg)) {
      add(arg);
    }
  }
  return out;
}

/** A sandbox alive in this process (tests and diagnostics). */
export interface LiveSandbox {
  mode: SandboxMode;
  /** The child process's pid; for a thread, the worker's pid. */
  pid: number;
  /** The worker thread's id (threads only). */
  threadId: number | undefined;
}

const LIVE = new Map<Child, LiveSandbox>();

/** Every sandbox (child process or worker thread) alive in this process, over all workers. */
export function liveSandboxes(): LiveSandbox[] {
  return [...LIVE.values()];
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}

/** The error a child reported (BullMQ's errorToJSON), as the error the worker records. */
function fromChild(value: unknown): Error {
  const v = (value && typeof value === 'object' ? value : { message: String(value) }) as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown; details?: unknown };
  const message = typeof v.message === 'string' ? v.message : String(v.message ?? 'the sandboxed handler failed');
  let err: Error;
  if (v.name === 'ConveyorError' && typeof v.code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, v.code)) {
    err = new ConveyorError(v.code as ErrorCode, message, v.details && typeof v.details === 'object' ? (v.details as Record<string, unknown>) : undefined);
  } else if (v.name === 'UnrecoverableError') {
    err = new UnrecoverableError(message);
  } else {
    err = new Error(message);
    if (typeof v.name === 'string') err.name = v.name;
  }
  if (typeof v.stack === 'string') err.stack = v.stack;
  return err;
}

/** Every child of every pool in this process, from its creation to its exit. */
const ALL = new Set<Child>();

/**
 * BullMQ pipes each child's stdout and stderr into this process's, and each
 * pipe listens on process.stdout / stderr: past 10 children Node warns of a
 * listener leak. There is none (a pipe's listeners go with its child), so
 * make room for one per child.
 */
function roomForPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const need = 10 + ALL.size;
    if (stream.getMaxListeners() < need) stream.setMaxListeners(need);
  }
}

/** Children whose init has settled (started, or failed before or after forking). */
const INIT_SETTLED = new WeakSet<Child>();

/**
 * Resolves once BullMQ's Child has forked its process or started its thread
 * (its init awaits before it does), or its init settled without one.
 */
async function spawned(child: Child): Promise<void> {
  while (!child.childProcess && !child.worker && !INIT_SETTLED.has(child)) await new Promise((r) => setTimeout(r, 2));
}

export interface SandboxPoolOptions {
  /** SANDBOX_MAX_HEAP_MB: --max-old-space-size of a child process, resourceLimits.maxOldGenerationSizeMb of a thread. */
  maxHeapMb?: number | undefined;
  logger: Logger;
}

/** The sandboxes of one worker: idle children by mode and processor file, every live one, closed at the worker's stop. */
export class SandboxPool {
  private readonly free = new Map<string, Child[]>();
  private readonly live = new Set<Child>();
  /** The last 'error' a child emitted (a thread out of memory), for the crash message. */
  private readonly lastError = new WeakMap<Child, Error>();
  /** Who each child is (kept after its exit, for the crash message). */
  private readonly info = new WeakMap<Child, LiveSandbox>();
  private readonly execArgv = sandboxExecArgv();
  private readonly log: Logger;
  private readonly maxHeapMb: number | undefined;
  private closed = false;

  constructor(opts: SandboxPoolOptions) {
    this.log = opts.logger;
    this.maxHeapMb = opts.maxHeapMb;
  }

  /** Sandboxes alive now (idle or busy). */
  get size(): number {
    return this.live.size;
  }

  /**
   * The Handler of a sandboxed job name. `sendData`: the data the handler is
   * called with (parsed by the worker) replaces the job's own in the sandbox;
   * otherwise the sandbox parses the job's data with its definition's schema.
   */
  handler(mode: SandboxMode, processFile: string, sendData: boolean): Handler {
    return (data, ctx) => this.run(mode, processFile, sendData, data, ctx);
  }

  private async run(mode: SandboxMode, processFile: string, sendData: boolean, data: unknown, ctx: JobContext): Promise<unknown> {
    const signal = ctx.signal;
    if (signal.aborted) throw signal.reason;
    const child = await this.retain(mode, processFile, signal);
    const job = ctx.job;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        fn();
      };
      /** The child is done with this job: back to the pool when healthy, else killed. */
      const done = (healthy: boolean) => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        signal.removeEventListener('abort', onAbort);
        clearTimeout(killTimer);
        if (healthy) this.release(child);
        else void this.kill(child, 'SIGKILL');
      };
      const relay = (p: Promise<unknown>, what: string) => {
        p.catch((err: unknown) => this.log.debug({ jobId: job.id, err: firstLine(err) }, `sandbox: could not ${what}`));
      };
      const onMessage = (msg: { cmd?: unknown; value?: unknown; err?: unknown }) => {
        switch (msg?.cmd) {
          case ParentCommand.Completed:
            done(true);
            settle(() => resolve(msg.value));
            break;
          case ParentCommand.Failed:
            done(true);
            settle(() => reject(fromChild(msg.value)));
            break;
          case ParentCommand.Error:
            // The child refused the job (not idle): not to be trusted again.
            done(false);
            settle(() => reject(new ConveyorError('HANDLER_CRASHED', `the sandbox (${mode}) refused the job: ${firstLine(fromChild(msg.err))}`)));
            break;
          case ParentCommand.Progress:
            relay(job.updateProgress(msg.value as number | object), 'update the job progress');
            break;
          case ParentCommand.Log:
            relay(job.log(String(msg.value)), 'append to the job log');
            break;
          case ParentCommand.Update:
            relay(job.updateData(msg.value), 'update the job data');
            break;
          default:
            // The rest of BullMQ's sandboxed job (moveToDelayed, flows' children) is not offered by Conveyor.
            break;
        }
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        done(false);
        settle(() => reject(this.crashed(mode, child, code, sig)));
      };
      const onAbort = () => {
        settle(() => reject(signal.reason));
        // BullMQ's Cancel aborts the sandboxed handler's own signal; a handler that does not
        // answer in time (a busy loop, I/O that ignores the signal) loses its child.
        const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
        child.send({ cmd: ChildCommand.Cancel, value: reason }).catch(() => {});
        killTimer = setTimeout(() => done(false), CANCEL_GRACE_MS);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      const json: Record<string, unknown> = { ...job.asJSONSandbox(), conveyorQueue: ctx.queue };
      if (sendData) json.data = JSON.stringify(data === undefined ? null : data);
      child.send({ cmd: ChildCommand.Start, job: json }).catch((err: unknown) => {
        done(false);
        settle(() => reject(new ConveyorError('HANDLER_CRASHED', `could not hand the job to its sandbox (${mode}): ${firstLine(err)}`)));
      });
    });
  }

  private crashed(mode: SandboxMode, child: Child, code: number | null, sig: NodeJS.Signals | null): ConveyorError {
    const err = this.lastError.get(child);
    const oom = (err as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY' || sig === 'SIGABRT' || code === 134;
    const heap = this.maxHeapMb !== undefined ? `SANDBOX_MAX_HEAP_MB=${this.maxHeapMb}` : "Node's default heap limit";
    const who = mode === 'thread' ? `thread ${this.info.get(child)?.threadId ?? '?'}` : `process ${this.info.get(child)?.pid ?? '?'}`;
    const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
    const why = oom ? ` (out of memory? ${heap})` : err ? ` (${firstLine(err)})` : '';
    return new ConveyorError('HANDLER_CRASHED', `the sandboxed handler's ${who} ${how} while running the job${why}`, { isolation: mode, exitCode: code, signal: sig });
  }

  /** An idle child for this processor file, or a new one once it has loaded the module. */
  private async retain(mode: SandboxMode, processFile: string, signal: AbortSignal): Promise<Child> {
    const key = `${mode} ${processFile}`;
    const free = this.free.get(key);
    while (free && free.length > 0) {
      const c = free.pop()!;
      if (!c.hasProcessExited()) return c;
    }
    if (this.closed) throw new ConveyorError('SHUTTING_DOWN', 'the worker is stopping: no new sandbox');
    const heap = this.maxHeapMb;
    const child = new Child(mainFile(mode), processFile, {
      useWorkerThreads: mode === 'thread',
      workerForkOptions: { execArgv: heap !== undefined ? [...this.execArgv, `--max-old-space-size=${heap}`] : this.execArgv },
      workerThreadsOptions: { execArgv: this.execArgv, ...(heap !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: heap } } : {}) },
    });
    this.live.add(child);
    ALL.add(child);
    roomForPipes();
    child.on('error', (err: Error) => {
      this.lastError.set(child, err);
      this.log.debug({ isolation: mode, err: firstLine(err) }, 'sandbox error');
    });
    child.on('exit', () => {
      this.live.delete(child);
      LIVE.delete(child);
      ALL.delete(child);
      const list = this.free.get(key);
      const i = list?.indexOf(child) ?? -1;
      if (i >= 0) list!.splice(i, 1);
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const record = () => {
        if (this.info.has(child) || (!child.childProcess && !child.worker)) return;
        const who: LiveSandbox = { mode, pid: child.childProcess?.pid ?? process.pid, threadId: child.worker?.threadId };
        this.info.set(child, who);
        if (this.live.has(child) && !child.hasProcessExited()) LIVE.set(child, who);
      };
      void spawned(child).then(record);
      const init = child.init().then(() => {
        record();
        if (child.hasProcessExited()) throw new Error('it exited while it started');
      });
      void init.then(
        () => INIT_SETTLED.add(child),
        () => INIT_SETTLED.add(child),
      );
      // BullMQ's init waits for a child's 'close', which a worker thread never emits: watch 'exit' too.
      const exited = new Promise<never>((_, reject) => child.once('exit', (code: number | null, sig: string | null) => reject(new Error(`it exited (${sig ?? `code ${code}`}) while loading its module`))));
      const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`it did not load within ${LOAD_TIMEOUT_MS} ms`)), LOAD_TIMEOUT_MS)));
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      init.catch(() => {});
      exited.catch(() => {});
      try {
        await Promise.race([init, exited, expired, aborted]);
      } catch (err) {
        if (signal.aborted && err === signal.reason) throw err;
        const loadErr = this.lastError.get(child);
        throw new ConveyorError('HANDLER_LOAD_FAILED', `the sandbox (${mode}) could not load the job's module: ${firstLine(err)}${loadErr && loadErr !== err ? ` (${firstLine(loadErr)})` : ''}`, { isolation: mode });
      }
      return child;
    } catch (err) {
      void this.kill(child, 'SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private release(child: Child): void {
    if (child.hasProcessExited()) return;
    if (this.closed) {
      void this.kill(child, 'SIGTERM');
      return;
    }
    const key = `${child.worker ? 'thread' : 'process'} ${child.processFile}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(child);
  }

  private async kill(child: Child, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    for (const list of this.free.values()) {
      const i = list.indexOf(child);
      if (i >= 0) list.splice(i, 1);
    }
    // BullMQ's init awaits before it forks: a child killed that early is killed once it exists.
    await spawned(child);
    if (!child.childProcess && !child.worker) {
      this.live.delete(child);
      ALL.delete(child);
      return;
    }
    try {
      await child.kill(signal, CLOSE_GRACE_MS);
    } catch (err) {
      this.log.warn({ err: firstLine(err) }, 'could not stop a sandbox');
    }
  }

  /**
   * Stops every sandbox: idle ones are asked to exit (SIGTERM; Stop for a
   * thread), any still busy is killed; resolves once all have exited.
   * Called by the worker's stop(), after its jobs have finished or been handed back.
   */
  async close(): Promise<void> {
    this.closed = true;
    const idle = new Set([...this.free.values()].flat());
    this.free.clear();
    await Promise.all([...this.live].map((c) => this.kill(c, idle.has(c) ? 'SIGTERM' : 'SIGKILL')));
  }
}
