/**
 * The supervisor behind `npm start` and `npm run start:ha`: Conveyor's
 * processes as children with prefixed log lines, "ready" when each has logged
 * its ready line, and one ordered stop:
 *
 *   Ctrl-C / SIGTERM → SIGTERM to the children (a worker drains within
 *   SHUTDOWN_GRACE_MS; SIGKILL past grace + 10 s) → the afterChildren steps
 *   (stop Redis) → exit 0. A child that dies on its own stops everything:
 *   exit 1, naming it. A second Ctrl-C (not the same one relayed twice by
 *   npm and tsx) kills the children at once.
 *
 * The children run in their own process groups: Ctrl-C in the terminal
 * reaches only the supervisor, which then stops them in order (a worker that
 * got SIGINT from the terminal and SIGTERM from us would take the second as
 * "exit now").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachLine, formatLine, type LineFormat } from './log-lines.ts';

/**
 * The children are this package's own CLI (`conveyor server`, `conveyor worker` ...):
 * compiled, `node dist/cli/main.js`; from the source tree (tests), through tsx.
 */
const CLI_MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../main.ts' : '../main.js', import.meta.url));
const LOADER: readonly string[] = CLI_MAIN.endsWith('.ts') ? ['--import', 'tsx'] : [];
/** Signals this close to the first are the same Ctrl-C delivered twice (npm and tsx both forward it). */
const DUPLICATE_SIGNAL_MS = 1000;

export interface ChildSpec {
  /** Shown before each of its lines ("server", "worker-1"...). */
  name: string;
  /** The CLI command it runs: ['server'], ['worker', '--jobs', './dist/jobs.js']. */
  args: readonly string[];
  /** The log line that says it is up. */
  ready: (line: Record<string, unknown>) => boolean;
}

export const listening = (j: Record<string, unknown>): boolean => j.msg === 'listening' && typeof j.url === 'string';
export const SERVER: Omit<ChildSpec, 'name'> = { args: ['server'], ready: listening };
export const WORKER: Omit<ChildSpec, 'name'> = { args: ['worker'], ready: (j) => j.msg === 'worker started' };
export const DASHBOARD: Omit<ChildSpec, 'name'> = { args: ['dashboard'], ready: listening };

export interface Running {
  spec: ChildSpec;
  proc: ChildProcess;
  exit: number | string | undefined;
  exited: Promise<number | string>;
  readyLine: Record<string, unknown> | undefined;
}

/** Where data lives, relative to the current directory when inside it. */
export function shownDir(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') ? rel : dir;
}

/** One line on stderr, written synchronously (process.exit follows at once). */
export function fatal(message: string, code: number, json: boolean, name = 'conveyor'): never {
  const line = json ? JSON.stringify({ level: 50, time: new Date().toISOString(), proc: name, msg: message }) : `${name}: ${message}`;
  writeSync(2, `${line}\n`);
  process.exit(code);
}

export class Supervisor {
  readonly fmt: LineFormat;
  readonly children: Running[] = [];
  private readonly name: string;
  private readonly graceMs: number;
  private readonly afterChildren: (() => Promise<void>)[] = [];
  private stopping: Promise<never> | undefined;
  private firstSignalAt = 0;
  private forced = false;

  constructor(opts: { name?: string; json: boolean; shutdownGraceMs: number }) {
    this.name = opts.name ?? 'conveyor';
    this.graceMs = opts.shutdownGraceMs;
    this.fmt = { json: opts.json, color: Boolean(process.stdout.isTTY) && !('NO_COLOR' in process.env), width: 9 };
    // A terminal or pipe that went away must not crash the supervisor mid-stop
    // (that would leave Redis and the children running): lose the output instead.
    process.stdout.on('error', () => {});
    process.stderr.on('error', () => {});
    // Last resort if this process dies abnormally: leave no orphans behind.
    process.on('exit', () => {
      for (const c of this.children) if (c.exit === undefined) c.proc.kill('SIGKILL');
    });
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, (sig) => this.onSignal(sig));
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** The supervisor's own lines, in the same shape as the children's. */
  say(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    const n = { info: 30, warn: 40, error: 50 }[level];
    const line = JSON.stringify({ level: n, time: new Date().toISOString(), proc: this.name, msg, ...fields });
    (level === 'info' ? process.stdout : process.stderr).write(`${formatLine(this.name, 4, line, this.fmt)}\n`);
  }

  fatal(message: string, code: number): never {
    return fatal(message, code, this.fmt.json, this.name);
  }

  /** A step run after every child has exited (stopping Redis), in registration order. */
  onChildrenStopped(step: () => Promise<void>): void {
    this.afterChildren.push(step);
  }

  /** Stops the children, then the afterChildren steps, then exits. */
  stopAll(reason: string, code: number): Promise<never> {
    this.stopping ??= (async () => {
      this.say(code === 0 ? 'info' : 'error', `stopping: ${reason}`);
      for (const c of this.children) if (c.exit === undefined) c.proc.kill('SIGTERM');
      const deadline = setTimeout(() => {
        for (const c of this.children) {
          if (c.exit === undefined) {
            this.say('warn', `${c.spec.name} did not stop within ${this.graceMs + 10_000} ms; killing it`);
            c.proc.kill('SIGKILL');
          }
        }
      }, this.graceMs + 10_000);
      await Promise.all(this.children.map((c) => c.exited));
      clearTimeout(deadline);
      const unclean = this.children.filter((c) => c.exit !== 0 && c.exit !== 'SIGTERM');
      for (const step of this.afterChildren) await step();
      let exitCode = code;
      if (code === 0 && (unclean.length > 0 || this.forced)) {
        exitCode = 1;
        this.say('error', `did not stop cleanly: ${unclean.map((c) => `${c.spec.name} (${c.exit})`).join(', ') || 'forced'}`);
      }
      this.say(exitCode === 0 ? 'info' : 'error', 'stopped', { exitCode });
      // Writes to a pipe are asynchronous on some platforms (macOS): let them drain.
      await new Promise<void>((r) => process.stdout.write('', () => process.stderr.write('', () => r())));
      process.exit(exitCode);
    })();
    return this.stopping;
  }

  private onSignal(signal: NodeJS.Signals): void {
    const now = Date.now();
    if (!this.stopping) {
      this.firstSignalAt = now;
      void this.stopAll(`${signal} received`, 0);
      return;
    }
    if (now - this.firstSignalAt < DUPLICATE_SIGNAL_MS || this.forced) return;
    this.forced = true;
    this.say('warn', `second ${signal}: killing the children now`);
    for (const c of this.children) if (c.exit === undefined) c.proc.kill('SIGKILL');
  }

  /** Starts one child (its own process group); a child that exits on its own stops everything. */
  spawn(spec: ChildSpec, env: NodeJS.ProcessEnv, onReady: () => void): Running {
    // In the caller's folder: an app's `--jobs ./dist/jobs.js` and its node_modules resolve from there.
    const proc = spawn(process.execPath, [...LOADER, CLI_MAIN, ...spec.args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const running: Running = { spec, proc, exit: undefined, exited: undefined as never, readyLine: undefined };
    running.exited = new Promise((resolveExit) => {
      proc.on('exit', (c, s) => resolveExit((running.exit = c ?? s ?? 'unknown')));
      proc.on('error', (err) => resolveExit((running.exit = err.message)));
    });
    const index = this.children.length;
    const onLine = (out: NodeJS.WriteStream) => (line: string) => {
      out.write(`${formatLine(spec.name, index, line, this.fmt)}\n`);
      if (!running.readyLine && line.startsWith('{')) {
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (spec.ready(j)) {
            running.readyLine = j;
            onReady();
          }
        } catch {
          // not a log line of ours
        }
      }
    };
    eachLine(proc.stdout!, onLine(process.stdout));
    eachLine(proc.stderr!, onLine(process.stderr));
    void running.exited.then((code) => {
      if (!this.stopping) void this.stopAll(`${spec.name} exited unexpectedly (${typeof code === 'number' ? `exit code ${code}` : code})`, 1);
    });
    this.children.push(running);
    return running;
  }

  /** Spawns every child; resolves once all are ready (stops everything if they are not within timeoutMs). */
  startChildren(specs: readonly ChildSpec[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
    return new Promise((resolveReady) => {
      let readyCount = 0;
      const timer = setTimeout(() => {
        const late = this.children.filter((c) => !c.readyLine).map((c) => c.spec.name);
        void this.stopAll(`not up within ${timeoutMs / 1000} s: ${late.join(', ')}`, 1);
      }, timeoutMs);
      for (const spec of specs) {
        if (this.stopping) return;
        this.spawn(spec, env, () => {
          if (++readyCount === specs.length && !this.stopping) {
            clearTimeout(timer);
            resolveReady();
          }
        });
      }
    });
  }

  /** The URL a server or dashboard child logged when it started listening. */
  urlOf(name: string): string {
    return String(this.children.find((c) => c.spec.name === name)?.readyLine?.url ?? '');
  }
}
