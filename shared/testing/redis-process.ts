/**
 * Spawns a real redis-server on a free port for a test (never 6379, never a
 * Redis the test did not start). Data lives in a temp dir removed on stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

export interface RedisProcess {
  port: number;
  host: string;
  url: string;
  dir: string;
  proc: ChildProcess;
  /** A plain client for assertions; closed by stop(). */
  client(): Redis;
  stop(): Promise<void>;
  /** SIGKILL, no cleanup of the data dir (for restarts). */
  kill(signal?: NodeJS.Signals): void;
}

export interface RedisProcessOptions {
  args?: string[];
  port?: number;
  dir?: string;
  /** Reachable with this password (requirepass). */
  password?: string;
}

export async function startRedis(opts: RedisProcessOptions = {}): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'conveyor-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--maxmemory-policy', 'noeviction',
    '--repl-diskless-sync-delay', '0',
    ...(opts.password ? ['--requirepass', opts.password] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  proc.on('exit', () => (exited = true));
  proc.on('error', (err) => {
    output += `spawn error: ${err.message}`;
    exited = true;
  });

  const clients: Redis[] = [];
  const probe = new Redis({ port, host: '127.0.0.1', password: opts.password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await waitFor(`redis-server on port ${port}`, async () => {
      if (exited) throw new Error(`redis-server exited: ${output.slice(-500)}`);
      if (probe.status !== 'ready') {
        probe.disconnect();
        await probe.connect();
      }
      return (await probe.ping()) === 'PONG';
    }, { timeoutMs: 10_000, intervalMs: 20 });
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${output.slice(-1000)}`);
  } finally {
    probe.disconnect();
  }

  const self: RedisProcess = {
    port,
    host: '127.0.0.1',
    url: `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}`,
    dir,
    proc,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', password: opts.password, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      proc.kill(signal);
    },
    async stop() {
      for (const c of clients) c.disconnect();
      if (!exited) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await done;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
