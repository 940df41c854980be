/**
 * Runs Conveyor's own processes (server, worker, dashboard) as real children
 * for end-to-end tests, and waits on what they log rather than on sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './wait-for.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export type ProcessKind = 'server' | 'worker' | 'dashboard';

export interface ConveyorProcess {
  kind: ProcessKind;
  proc: ChildProcess;
  /** Every log line so far (stdout and stderr), parsed when JSON. */
  lines: { raw: string; json?: Record<string, any> }[];
  /** Resolves with the first line (now or later) matching the predicate. */
  waitForLine(what: string, match: (json: Record<string, any>, raw: string) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  exitCode(): number | string | undefined;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export interface SpawnOptions {
  /** Run the compiled CLI (`node bin/conveyor.js <kind> …args`, dist/) instead of the TypeScript sources. */
  compiled?: boolean;
  /** CLI arguments after the command (compiled only): ['--jobs', './jobs.mjs']. */
  args?: readonly string[];
  cwd?: string;
}

/** execArgv: extra node flags, e.g. ['--cpu-prof'] (which NODE_OPTIONS does not allow). */
export function spawnConveyor(kind: ProcessKind, env: Record<string, string>, execArgv: readonly string[] = [], opts: SpawnOptions = {}): ConveyorProcess {
  const argv = opts.compiled ? [...execArgv, join(ROOT, 'bin', 'conveyor.js'), kind, ...(opts.args ?? [])] : [...execArgv, '--import', 'tsx', join(ROOT, kind, 'main.ts')];
  const proc = spawn(process.execPath, argv, {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: ConveyorProcess['lines'] = [];
  let code: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (c, s) => {
      code = c ?? s ?? 'unknown';
      resolve(code);
    });
  });
  const onData = (buf: { partial: string }) => (d: Buffer) => {
    buf.partial += d.toString();
    let nl: number;
    while ((nl = buf.partial.indexOf('\n')) !== -1) {
      const raw = buf.partial.slice(0, nl);
      buf.partial = buf.partial.slice(nl + 1);
      let json: Record<string, any> | undefined;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      lines.push({ raw, json });
      if (process.env.CONVEYOR_TEST_ECHO) process.stderr.write(`[${kind} ${proc.pid}] ${raw}\n`);
    }
  };
  proc.stdout!.on('data', onData({ partial: '' }));
  proc.stderr!.on('data', onData({ partial: '' }));

  const self: ConveyorProcess = {
    kind,
    proc,
    lines,
    exited,
    exitCode: () => code,
    waitForLine(what, match, timeoutMs = 20_000) {
      return waitFor(`${kind} to log ${what}`, () => {
        for (const l of lines) if (match(l.json ?? {}, l.raw)) return l.json ?? { raw: l.raw };
        if (code !== undefined) throw new Error(`${kind} exited (${code}) before logging ${what}:\n${lines.slice(-15).map((l) => l.raw).join('\n')}`);
        return undefined;
      }, { timeoutMs, intervalMs: 20 });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 40_000) {
      if (code === undefined) proc.kill(signal);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      const r = await Promise.race([exited, timer]);
      if (r === 'timeout') {
        proc.kill('SIGKILL');
        throw new Error(`${kind} did not exit within ${timeoutMs} ms of ${signal}`);
      }
      return r;
    },
  };
  return self;
}

/** Waits for a server or dashboard child to log that it listens; returns its base URL. */
export async function listeningUrl(p: ConveyorProcess): Promise<string> {
  const line = await p.waitForLine('"listening"', (j) => j.msg === 'listening' && typeof j.url === 'string');
  return line.url as string;
}
