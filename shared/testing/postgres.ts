/**
 * PostgreSQL for tests, two ways, never a database the test did not make:
 *
 * - createTestDatabase(): a fresh database on the machine's server
 *   (PG_TEST_URL, default postgres://postgres@127.0.0.1:5432/postgres, trust
 *   auth), dropped by drop() (and at exit, should the test fail first).
 * - startPostgres(): a server of the test's own (initdb in a temp folder, the
 *   postgres binary on a free port), for tests that kill and restart it. As
 *   root, it runs as the "postgres" user (initdb refuses root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';
import { reapOnExit, removeOnExit, forgetDir } from './reaper.ts';

const ADMIN_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

const madeHere = new Set<string>();
let dropAtExit = false;

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A new, empty database on the machine's PostgreSQL; drop() removes it (connections to it are ended first). */
export async function createTestDatabase(prefix = 'conveyor_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  madeHere.add(name);
  if (!dropAtExit) {
    dropAtExit = true;
    // Last resort for a test that failed before drop(): synchronous, as 'exit' handlers must be.
    process.on('exit', () => {
      for (const db of madeHere) spawnSync('psql', [ADMIN_URL, '-qc', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`], { stdio: 'ignore', timeout: 5000 });
    });
  }
  return {
    url: withDatabase(ADMIN_URL, name),
    name,
    async drop() {
      if (!madeHere.has(name)) return;
      const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
      madeHere.delete(name);
    },
  };
}

/** Where initdb and postgres are: PATH, else Debian's /usr/lib/postgresql/<version>/bin. */
export function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return join(which.stdout.trim(), '..');
  throw new Error('no initdb found (install postgresql)');
}

export interface PostgresProcess {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL: a crash, no shutdown checkpoint. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('running as root and there is no "postgres" user to run initdb as');
  return { uid, gid };
}

/** A PostgreSQL server of the test's own on a free port (trust auth, user postgres, fsync off). */
export async function startPostgres(): Promise<PostgresProcess> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-pg-'));
  removeOnExit(dir);
  const as = runAs();
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8', ...(as ?? {}) });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let output = '';
  /** Spawns postgres and waits until it answers; false when it exited first (a restart racing the old shared memory). */
  const attempt = async (): Promise<boolean> => {
    output = '';
    const p = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(as ?? {}),
    });
    reapOnExit(p);
    p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc = p;
    const ready = await waitFor(`postgres on port ${port}`, async () => {
      if (p.exitCode !== null || p.signalCode !== null) return 'exited';
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return 'ready';
      } catch {
        return undefined;
      } finally {
        await c.end().catch(() => {});
      }
    }, { timeoutMs: 20_000, intervalMs: 50 });
    return ready === 'ready';
  };
  const launch = async () => {
    for (let i = 0; i < 50; i++) {
      if (await attempt()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`postgres did not start: ${output.slice(-800)}`);
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    // Everything at once, as a crash of the machine would: the postmaster and its backends.
    const children = spawnSync('pgrep', ['-P', String(p.pid)], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter((n) => n > 0);
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    for (const c of children) {
      try {
        process.kill(c, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await done;
  };
  await launch();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
      forgetDir(dir);
    },
  };
}
