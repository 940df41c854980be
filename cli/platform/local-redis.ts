/**
 * The Redis that `npm start` runs when REDIS_URL is unset: redis-server on
 * 127.0.0.1:<CONVEYOR_LOCAL_REDIS_PORT, default 6380> with its data (AOF) under
 * <CONVEYOR_HOME, default .conveyor>/redis. Never 6379: that port may hold a
 * Redis that belongs to something else.
 *
 * If a Redis already answers PING on the port (a previous run whose supervisor
 * was killed, or one the user started), it is reused and left running at the end.
 *
 * launchRedis is the spawn-wait-stop of one redis-server; local-ha.ts
 * (npm run start:ha) starts its six nodes with it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseRedisUrl } from '../../shared/config/redis-url.ts';
import { createRedis, closeRedis, waitUntilReady } from '../../shared/redis/connections.ts';

export interface LocalRedis {
  url: string;
  port: number;
  dir: string;
  /** False when a Redis already answered on the port and was reused. */
  started: boolean;
  /** SHUTDOWN (which writes the AOF) and wait for the process; a no-op for a reused Redis. */
  stop(): Promise<void>;
  /** Resolves when a Redis we started exits, for whatever reason. */
  exited: Promise<number | string>;
  /** The redis-server's pid, when we started it. */
  pid?: number | undefined;
}

/** A failure with a message for people (install hints, port clashes). */
export class LocalRedisError extends Error {}

export const INSTALL_HINT = [
  'redis-server was not found on PATH. Install Redis 7 (or set REDIS_URL to a Redis you already run):',
  '  Debian/Ubuntu:  sudo apt-get install redis-server',
  '  macOS:          brew install redis',
  '  Fedora/RHEL:    sudo dnf install redis',
].join('\n');

export function hasRedisServer(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** True when something accepts TCP connections on 127.0.0.1:port (fast "no" before a Redis client is built). */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** True when a Redis answers PING at the URL within timeoutMs. */
export async function answersPing(url: string, timeoutMs: number): Promise<boolean> {
  const target = parseRedisUrl(url);
  if (target.kind === 'standalone' && target.host === '127.0.0.1' && !(await portOpen(target.port))) return false;
  const conn = createRedis(target, { role: 'producer', commandTimeoutMs: timeoutMs });
  try {
    await waitUntilReady(conn, target.redacted, timeoutMs);
    return (await conn.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    await closeRedis(conn);
  }
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function ensureLocalRedis(opts: { port: number; dir: string; readyTimeoutMs?: number }): Promise<LocalRedis> {
  const { port, dir } = opts;
  const url = `redis://127.0.0.1:${port}`;
  if (await answersPing(url, 500)) {
    return { url, port, dir, started: false, stop: async () => {}, exited: new Promise(() => {}) };
  }
  if (!hasRedisServer()) throw new LocalRedisError(INSTALL_HINT);
  mkdirSync(dir, { recursive: true });
  return launchRedis({
    port,
    dir,
    readyTimeoutMs: opts.readyTimeoutMs,
    args: [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      // Acknowledged jobs survive a crash or a restart: AOF, fsync every second.
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      // A queue must never lose jobs to eviction; a full Redis refuses writes instead.
      '--maxmemory-policy', 'noeviction',
      '--logfile', join(dir, 'redis.log'),
      '--daemonize', 'no',
    ],
  });
}

export interface LaunchOptions {
  port: number;
  /** Holds redis.log (unless the args name another logfile). */
  dir: string;
  /** redis-server's arguments: a config file and/or --options (sentinels: [conf, '--sentinel']). */
  args: string[];
  /** Where the server logs, for error messages. Default <dir>/redis.log. */
  logFile?: string;
  readyTimeoutMs?: number | undefined;
}

/**
 * Spawns a redis-server (or Sentinel) in its own process group and waits
 * until it answers PING on 127.0.0.1:port; stop() sends SHUTDOWN (which
 * writes the AOF) and waits for the process.
 */
export async function launchRedis(opts: LaunchOptions): Promise<LocalRedis> {
  const { port, dir } = opts;
  const url = `redis://127.0.0.1:${port}`;
  const logFile = opts.logFile ?? join(dir, 'redis.log');
  // Its own process group: Ctrl-C in the terminal reaches only the supervisor,
  // which stops Redis last, after the workers have drained.
  const proc: ChildProcess = spawn('redis-server', opts.args, { stdio: 'ignore', detached: true });
  let exitCode: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (c, s) => resolve((exitCode = c ?? s ?? 'unknown')));
    proc.on('error', (err) => resolve((exitCode = err.message)));
  });

  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      const log = tail(logFile);
      const clash = /Address already in use/i.test(log)
        ? `\nPort ${port} is taken by something that is not a Redis answering PING; free it or choose other ports (CONVEYOR_LOCAL_REDIS_PORT, CONVEYOR_HA_BASE_PORT), or set REDIS_URL.`
        : '';
      throw new LocalRedisError(`redis-server exited (${exitCode}) at start.${clash}\n${log}`);
    }
    if (await answersPing(url, 300)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new LocalRedisError(`redis-server on port ${port} did not answer PING within ${readyTimeoutMs / 1000} s.\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (exitCode !== undefined) return;
      const target = parseRedisUrl(url);
      const conn = createRedis(target, { role: 'producer', commandTimeoutMs: 10_000 });
      try {
        // SHUTDOWN fsyncs the AOF before exiting; the connection drops with it.
        await conn.call('SHUTDOWN').catch(() => {});
      } finally {
        conn.disconnect();
      }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        proc.kill('SIGTERM'); // Redis also saves on SIGTERM
        await exited;
      }
    })());

  return { url, port, dir, started: true, stop, exited, pid: proc.pid };
}

/** Where a previous run left data, for the start banner. */
export function hasData(dir: string): boolean {
  return existsSync(join(dir, 'appendonlydir'));
}
