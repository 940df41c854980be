/**
 * npm start: the whole platform on this machine.
 *
 *   1. REDIS_URL unset → a local redis-server on 127.0.0.1:6380, data (AOF) in
 *      .conveyor/redis (CONVEYOR_LOCAL_REDIS_PORT / CONVEYOR_HOME override both;
 *      tests use them). A Redis already answering there is reused.
 *   2. The API server, one worker and the dashboard as child processes with the
 *      same environment plus REDIS_URL; their log lines prefixed with their name.
 *   3. Once all three are up, the URLs.
 *   4. Ctrl-C / SIGTERM: SIGTERM to the children (the worker drains within
 *      SHUTDOWN_GRACE_MS), then SHUTDOWN of the local Redis, exit 0. A child that
 *      dies on its own stops everything: exit 1, naming it.
 *
 *   npm start -- --json   keep every output line a JSON object
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadConfig, type Config } from '#shared/config/config.ts';
import { isConveyorError } from '#shared/errors.ts';
import { ensureLocalRedis, LocalRedisError, type LocalRedis } from './local-redis.ts';
import { eachLine, formatLine, type LineFormat } from './log-lines.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** How long the children may take to come up (tsx compiles on first start). */
const START_TIMEOUT_MS = 90_000;
/** Signals this close to the first are the same Ctrl-C delivered twice (npm and tsx both forward it). */
const DUPLICATE_SIGNAL_MS = 1000;

interface ChildSpec {
  name: 'server' | 'worker' | 'dashboard';
  entry: string;
  /** The log line that says it is up. */
  ready: (line: Record<string, unknown>) => boolean;
}

const listening = (j: Record<string, unknown>) => j.msg === 'listening' && typeof j.url === 'string';
const CHILDREN: readonly ChildSpec[] = [
  { name: 'server', entry: 'server/main.ts', ready: listening },
  { name: 'worker', entry: 'worker/main.ts', ready: (j) => j.msg === 'worker started' },
  { name: 'dashboard', entry: 'dashboard/main.ts', ready: listening },
];

interface Running {
  spec: ChildSpec;
  proc: ChildProcess;
  exit: number | string | undefined;
  exited: Promise<number | string>;
  readyLine: Record<string, unknown> | undefined;
}

const fmt: LineFormat = {
  json: process.argv.includes('--json'),
  color: Boolean(process.stdout.isTTY) && !('NO_COLOR' in process.env),
  width: 9,
};

/** start-all's own lines, in the same shape as the children's. */
function say(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const n = { info: 30, warn: 40, error: 50 }[level];
  const line = JSON.stringify({ level: n, time: new Date().toISOString(), proc: 'conveyor', msg, ...fields });
  (level === 'info' ? process.stdout : process.stderr).write(`${formatLine('conveyor', 4, line, fmt)}\n`);
}

/** Writes to a pipe are asynchronous on some platforms (macOS): let them drain before exiting. */
function flushed(): Promise<void> {
  return new Promise((r) => process.stdout.write('', () => process.stderr.write('', () => r())));
}

function fatal(message: string, code: number): never {
  const line = fmt.json
    ? JSON.stringify({ level: 50, time: new Date().toISOString(), proc: 'conveyor', msg: message })
    : `conveyor: ${message}`;
  writeSync(2, `${line}\n`); // synchronous: process.exit follows at once
  process.exit(code);
}

let config: Readonly<Config>;
try {
  config = loadConfig(process.env);
} catch (err) {
  fatal(isConveyorError(err) ? `${err.code}: ${err.message}` : String(err), 2);
}

const children: Running[] = [];
let redis: LocalRedis | undefined;
let stopping: Promise<never> | undefined;
let firstSignalAt = 0;
let forced = false;

// Last resort if this process dies abnormally: leave no orphans behind
// (the children run in their own process groups, see spawnChild).
process.on('exit', () => {
  for (const c of children) if (c.exit === undefined) c.proc.kill('SIGKILL');
});

/** Stops the children, then the local Redis, then exits. */
function stopAll(reason: string, code: number): Promise<never> {
  stopping ??= (async () => {
    say(code === 0 ? 'info' : 'error', `stopping: ${reason}`);
    for (const c of children) if (c.exit === undefined) c.proc.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const c of children) {
        if (c.exit === undefined) {
          say('warn', `${c.spec.name} did not stop within ${config.shutdownGraceMs + 10_000} ms; killing it`);
          c.proc.kill('SIGKILL');
        }
      }
    }, config.shutdownGraceMs + 10_000);
    await Promise.all(children.map((c) => c.exited));
    clearTimeout(deadline);
    const unclean = children.filter((c) => c.exit !== 0 && c.exit !== 'SIGTERM');
    if (redis?.started) {
      say('info', 'stopping Redis (SHUTDOWN writes the AOF)', { redis: redis.url });
      await redis.stop();
    }
    let exitCode = code;
    if (code === 0 && (unclean.length > 0 || forced)) {
      exitCode = 1;
      say('error', `did not stop cleanly: ${unclean.map((c) => `${c.spec.name} (${c.exit})`).join(', ') || 'forced'}`);
    }
    say(exitCode === 0 ? 'info' : 'error', 'stopped', { exitCode });
    await flushed();
    process.exit(exitCode);
  })();
  return stopping;
}

function onSignal(signal: NodeJS.Signals): void {
  const now = Date.now();
  if (!stopping) {
    firstSignalAt = now;
    void stopAll(`${signal} received`, 0);
    return;
  }
  if (now - firstSignalAt < DUPLICATE_SIGNAL_MS || forced) return;
  forced = true;
  say('warn', `second ${signal}: killing the children now`);
  for (const c of children) if (c.exit === undefined) c.proc.kill('SIGKILL');
}
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);

function spawnChild(spec: ChildSpec, index: number, env: NodeJS.ProcessEnv, onReady: () => void): Running {
  // detached: its own process group, so Ctrl-C in the terminal reaches only this
  // supervisor, which then stops the children in order (a worker that got SIGINT
  // from the terminal and SIGTERM from us would take the second as "exit now").
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, spec.entry)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const running: Running = { spec, proc, exit: undefined, exited: undefined as never, readyLine: undefined };
  running.exited = new Promise((resolveExit) => {
    proc.on('exit', (c, s) => resolveExit((running.exit = c ?? s ?? 'unknown')));
    proc.on('error', (err) => resolveExit((running.exit = err.message)));
  });
  const onLine = (out: NodeJS.WriteStream) => (line: string) => {
    out.write(`${formatLine(spec.name, index, line, fmt)}\n`);
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
    if (!stopping) void stopAll(`${spec.name} exited unexpectedly (${typeof code === 'number' ? `exit code ${code}` : code})`, 1);
  });
  return running;
}

function banner(redisLine: string): void {
  const url = (name: string) => String(children.find((c) => c.spec.name === name)?.readyLine?.url ?? '');
  const dash = url('dashboard');
  const urls = { api: url('server'), dashboard: `${dash}/`, board: `${dash}/queues`, redis: redisLine };
  if (fmt.json) {
    say('info', 'ready', urls);
    return;
  }
  const lines = [
    '',
    'Conveyor is running:',
    `  API         ${urls.api}`,
    `  Dashboard   ${urls.dashboard}`,
    `  bull-board  ${urls.board}`,
    `  Redis       ${urls.redis}`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  let redisUrl = process.env.REDIS_URL?.trim();
  let redisLine = config.redis.redacted;
  if (!config.redisUrlExplicit) {
    const dir = resolve(ROOT, config.conveyorHome, 'redis');
    try {
      redis = await ensureLocalRedis({ port: config.localRedisPort, dir });
    } catch (err) {
      fatal(err instanceof LocalRedisError ? err.message : `could not start the local Redis: ${String(err)}`, 1);
    }
    redisUrl = redis.url;
    const rel = relative(process.cwd(), dir);
    const shownDir = rel && !rel.startsWith('..') ? rel : dir;
    if (redis.started) {
      say('info', 'local Redis started', { redis: redis.url, data: shownDir, appendonly: 'yes', maxmemoryPolicy: 'noeviction' });
      redisLine = `${redis.url} (local, data in ${shownDir})`;
      void redis.exited.then((code) => {
        if (!stopping) void stopAll(`the local Redis exited unexpectedly (${code})`, 1);
      });
    } else {
      say('info', `a Redis already answers on ${redis.url}: using it (it keeps running after Ctrl-C)`, { redis: redis.url });
      redisLine = `${redis.url} (already running; not started by npm start)`;
    }
  }

  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redisUrl };
  let readyCount = 0;
  const startTimer = setTimeout(() => {
    const late = children.filter((c) => !c.readyLine).map((c) => c.spec.name);
    void stopAll(`not up within ${START_TIMEOUT_MS / 1000} s: ${late.join(', ')}`, 1);
  }, START_TIMEOUT_MS);
  CHILDREN.forEach((spec, i) => {
    if (stopping) return;
    children.push(spawnChild(spec, i, env, () => {
      if (++readyCount === CHILDREN.length && !stopping) {
        clearTimeout(startTimer);
        banner(redisLine);
      }
    }));
  });
}

await main();
