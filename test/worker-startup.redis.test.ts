/**
 * A worker that cannot start says why in one line on stderr and exits
 * non-zero within 10 s (SPEC: "never a hang").
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { freePort } from '../shared/testing/free-port.ts';

let guarded: RedisProcess;

before(async () => {
  guarded = await startRedis({ password: 'the-right-password' });
});
after(async () => {
  await guarded.stop();
});

interface Failure {
  code: number | string;
  ms: number;
  stderr: string;
}

/** Starts a worker that must fail; returns its exit code, how long it lived and its stderr. */
async function failedStart(env: Record<string, string>): Promise<Failure> {
  const started = Date.now();
  const p = spawnConveyor('worker', env);
  let stderr = '';
  p.proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, ms: Date.now() - started, stderr };
}

function assertOneClearLine(f: Failure, code: string, ...says: RegExp[]): void {
  assert.notEqual(f.code, 0, 'exit code');
  assert.equal(typeof f.code, 'number', `killed instead of exiting: ${f.code}`);
  assert.ok(f.ms < 10_000, `took ${f.ms} ms`);
  const lines = f.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `stderr is not one line:\n${f.stderr}`);
  const line = lines[0]!;
  assert.match(line, new RegExp(`^conveyor worker: ${code}: `));
  for (const s of says) assert.match(line, s);
  console.log(`  ${code}: exited ${f.code} after ${f.ms} ms: ${line}`);
}

test('nothing listening at REDIS_URL: exits non-zero within 10 s naming the cause and the fix', async () => {
  const port = await freePort();
  const f = await failedStart({ REDIS_URL: `redis://127.0.0.1:${port}` });
  assertOneClearLine(f, 'REDIS_UNAVAILABLE', new RegExp(`Nothing is listening at redis://127\\.0\\.0\\.1:${port}`), /ECONNREFUSED/, /start Redis or fix the host and port in REDIS_URL/);
});

test('a wrong password: says the credentials were refused, without showing the password', async () => {
  const f = await failedStart({ REDIS_URL: `redis://:not-the-password@127.0.0.1:${guarded.port}` });
  assertOneClearLine(f, 'REDIS_AUTH_FAILED', /refused the credentials/, /check the user and password in REDIS_URL/, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
  assert.ok(!f.stderr.includes('not-the-password'));
});

test('no password for a Redis that requires one: says the credentials were refused', async () => {
  const f = await failedStart({ REDIS_URL: `redis://127.0.0.1:${guarded.port}` });
  assertOneClearLine(f, 'REDIS_AUTH_FAILED', /refused the credentials: it requires a password and REDIS_URL has none/, /redis:\/\/:password@host:port/);
});

test('a bad REDIS_URL: REDIS_URL_INVALID with the accepted forms', async () => {
  const f = await failedStart({ REDIS_URL: 'redis://:secret-pw@127.0.0.1:99999' });
  assertOneClearLine(f, 'REDIS_URL_INVALID', /port 99999 is out of range/, /Expected redis:\/\//);
  assert.ok(!f.stderr.includes('secret-pw'));
});

test('a bad setting: CONFIG_INVALID naming the variable', async () => {
  const f = await failedStart({ REDIS_URL: `redis://127.0.0.1:${guarded.port}`, CONCURRENCY: 'lots' });
  assertOneClearLine(f, 'CONFIG_INVALID', /CONCURRENCY="lots" is invalid: expected a whole number/);
});
