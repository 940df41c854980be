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
import { reapOnExit, removeOnExit, forgetDir } from './reaper.ts';

export interface RedisProcess {
  port: number;
  host: string;
  url: string;
  dir: string;
  proc: ChildProcess;
  /** With the tls option: the CA (PEM) that signed the server certificate. */
  ca?: string;
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
  /** A redis.conf (or sentinel.conf) read first; the options here override it. */
  configFile?: string;
  /** Run as a Sentinel (`redis-server <configFile> --sentinel`; needs configFile). */
  sentinel?: boolean;
  /** Listen with TLS only (--port 0 --tls-port P); url becomes rediss://. */
  tls?: RedisTlsOptions;
}

export interface RedisTlsOptions {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The CA as PEM, for clients (exposed as RedisProcess.ca). */
  ca: string;
  /** tls-auth-clients: 'no' unless a test checks client certificates. */
  authClients?: 'no' | 'yes' | 'optional';
}

export async function startRedis(opts: RedisProcessOptions = {}): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'conveyor-redis-'));
  if (!opts.dir) removeOnExit(dir);
  const tls = opts.tls;
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
      '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', tls.authClients ?? 'no']
    : ['--port', String(port)];
  const args = [
    ...(opts.configFile ? [opts.configFile] : []),
    ...(opts.sentinel ? ['--sentinel'] : []),
    ...listen,
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
  reapOnExit(proc);
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
  const tlsClient = tls ? { tls: { ca: tls.ca } } : {};
  const probe = new Redis({ port, host: '127.0.0.1', password: opts.password, ...tlsClient, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
    url: `${tls ? 'rediss' : 'redis'}://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}`,
    dir,
    proc,
    ...(tls ? { ca: tls.ca } : {}),
    client() {
      const c = new Redis({ port, host: '127.0.0.1', password: opts.password, ...tlsClient, maxRetriesPerRequest: 1 });
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
      if (!opts.dir) {
        rmSync(dir, { recursive: true, force: true });
        forgetDir(dir);
      }
    },
  };
  return self;
}
