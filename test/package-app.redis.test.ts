/**
 * The proof, as a user would do it: `npm pack` this repository; install the
 * tarball into a fresh app (examples/app: its own package.json, "type":
 * "module", strict TypeScript with "module": "nodenext"); type-check it
 * against the package's declarations, where a deliberate wrong payload must
 * fail naming the field; then run it with plain node against a Redis this
 * file starts — the app's server (its route, an embedded worker, the API and
 * dashboard mounted under a prefix behind its own sign-in), `npx conveyor
 * worker --jobs ./dist/jobs.js`, and a script that enqueues through the
 * library and conveyor/http-client, reads results, the fleet and a failing
 * job's dead letter, and tries a deep import — on Node 24 (the suite's) and
 * on Node 22 and 26 (CONVEYOR_TEST_NODE_22 / _26, or scripts/node.sh's cache).
 * Plus publint and arethetypeswrong on the tarball.
 *
 * The tarball is packed with --ignore-scripts: npm test built dist/ before
 * any test ran (npm pack's prepack would rebuild it under the feet of the
 * tests running beside this one).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { reapOnExit } from '../shared/testing/reaper.ts';

const ROOT = join(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'package-app');
const work = mkdtempSync(join(tmpdir(), 'conveyor-package-'));
const app = join(work, 'app');
let tarball = '';
let redis: RedisProcess;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** npm itself: the one running this suite (npm test), else the one on PATH. */
function npm(args: string[], cwd: string, timeoutMs = 240_000): Promise<Run> {
  const cli = process.env.npm_execpath;
  const [cmd, argv] = cli && cli.endsWith('.js') ? [process.execPath, [cli, ...args]] : ['npm', args];
  return run(cmd, argv, cwd, {}, timeoutMs);
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

function nodeBinaries(): { label: string; path: string }[] {
  const out = [{ label: `node ${process.versions.node.split('.')[0]} (the suite's)`, path: process.execPath }];
  const required = (process.env.CONVEYOR_TEST_REQUIRE_NODES ?? '').split(',').filter(Boolean);
  for (const line of ['22', '26']) {
    const given = process.env[`CONVEYOR_TEST_NODE_${line}`];
    const cached = join(ROOT, '.cache', 'node', line, 'package', 'bin', 'node');
    const path = given && existsSync(given) ? given : existsSync(cached) ? cached : undefined;
    if (path) out.push({ label: `node ${line}`, path });
    else if (required.includes(line)) throw new Error(`Node ${line} is required (CONVEYOR_TEST_REQUIRE_NODES) but CONVEYOR_TEST_NODE_${line} is unset and ${cached} is missing: run scripts/node.sh ${line}`);
  }
  return out;
}

/** A long-running process of the app, with its output kept for failure messages. */
function start(node: string, args: string[], env: Record<string, string>): { proc: ChildProcess; output: string[]; stop(): Promise<unknown> } {
  const proc = spawn(node, args, { cwd: app, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(proc);
  const output: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    proc,
    output,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

before(async () => {
  redis = await startRedis();
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
  assert.equal(packed.code, 0, packed.stderr);
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  writeFileSync(join(work, 'files.json'), JSON.stringify(info[0]!.files.map((f) => f.path)));

  // A fresh app: examples/app as it is in the repository, depending on the tarball.
  cpSync(join(ROOT, 'examples', 'app'), app, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  pkg.dependencies.conveyor = `file:${tarball}`;
  writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2));
  cpSync(join(FIXTURE, 'check.ts'), join(app, 'src', 'check.ts'));
  mkdirSync(join(app, 'checks'));
  cpSync(join(FIXTURE, 'checks', 'bad-payload.ts'), join(app, 'checks', 'bad-payload.ts'));
  cpSync(join(FIXTURE, 'tsconfig.bad.json'), join(app, 'tsconfig.bad.json'));
  const installed = await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app);
  assert.equal(installed.code, 0, `npm install in the app failed:\n${installed.stderr}`);
});

after(async () => {
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the compiled package only: dist/ with .d.ts and maps, the bin, no TypeScript sources, tests, bench or fixtures', () => {
  const files = JSON.parse(readFileSync(join(work, 'files.json'), 'utf8')) as string[];
  assert.ok(files.includes('dist/shared/index.js') && files.includes('dist/shared/index.d.ts') && files.includes('dist/shared/index.js.map'));
  for (const entry of ['worker', 'server', 'dashboard', 'http-client']) assert.ok(files.includes(`dist/${entry}/index.js`) && files.includes(`dist/${entry}/index.d.ts`), entry);
  assert.ok(files.includes('bin/conveyor.js') && files.includes('package.json') && files.includes('README.md'));
  assert.ok(files.includes('dist/dashboard/public/board.css'), 'the dashboard\'s assets');
  const stray = files.filter((f) => /\.test\.|(^|\/)(test|tests|bench|soak|scripts|examples|fixtures|testing)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  assert.deepEqual(stray, []);
});

test('publint and arethetypeswrong (ESM) find no problem in the tarball', async () => {
  const lint = await run(process.execPath, [join(ROOT, 'node_modules', 'publint', 'src', 'cli.js'), 'run', tarball, '--strict'], ROOT);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  assert.doesNotMatch(lint.stdout, /Errors:|Warnings:|Suggestions:/, lint.stdout);
  const attw = await run(process.execPath, [join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'), tarball, '--profile', 'esm-only', '--format', 'json'], ROOT);
  // The ESM profile: what node16 from ESM and bundlers see (require() and node10 resolution are ignored: the package is ESM only).
  const report = JSON.parse(attw.stdout) as { analysis: { problems: { kind: string; resolutionKind?: string; entrypoint?: string }[] } };
  const problems = report.analysis.problems.filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
  assert.deepEqual(problems, []);
  assert.equal(attw.code, 0, attw.stderr);
});

test('the app type-checks and compiles against the package (strict, nodenext); a wrong payload fails tsc naming the field', async () => {
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
  assert.equal(build.code, 0, `tsc of the app failed:\n${build.stdout}${build.stderr}`);
  assert.ok(existsSync(join(app, 'dist', 'check.js')) && existsSync(join(app, 'dist', 'jobs.js')));
  const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.bad.json', '--pretty', 'true'], app);
  const text = (bad.stdout + bad.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  assert.notEqual(bad.code, 0, 'a wrong payload must not type-check');
  assert.match(text, /checks\/bad-payload\.ts:6:\d+ - error TS2322: Type 'string' is not assignable to type 'number'/);
  assert.match(text, /The expected type comes from property 'userId'/);
});

test('the app runs on plain node: library and http-client enqueues, the embedded worker and `conveyor worker --jobs`, results, the fleet, a dead letter, the mounted dashboard; a deep import is refused', async (t) => {
  assert.ok(existsSync(join(app, 'dist', 'check.js')), 'the app was compiled by the previous test');
  for (const { label, path: node } of nodeBinaries()) {
    await t.test(label, async () => {
      // A Redis database of its own per Node version: every run starts from empty queues.
      const db = String(nodeBinaries().findIndex((n) => n.path === node) + 1);
      const redisUrl = `${redis.url}/${db}`;
      const port = await freePort();
      const common = { REDIS_URL: redisUrl, APP_ADMIN_PASSWORD: 'pw-for-the-test', LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '200' };
      const server = start(node, ['dist/server.js'], { ...common, PORT: String(port), EMBEDDED_WORKER: '1', WORKER_KIND: 'embedded' });
      const worker = start(node, [join(app, 'node_modules', 'conveyor', 'bin', 'conveyor.js'), 'worker', '--jobs', './dist/jobs.js'], { ...common, QUEUES: 'billing', WORKER_KIND: 'standalone', LOG_LEVEL: 'info' });
      try {
        await waitFor('the app to listen', () => server.output.join('').includes('app listening') || (server.proc.exitCode !== null && Promise.reject(new Error(server.output.join('')))), { timeoutMs: 30_000 });
        await waitFor('the standalone worker to start', () => worker.output.join('').includes('"worker started"') || (worker.proc.exitCode !== null && Promise.reject(new Error(worker.output.join('')))), { timeoutMs: 30_000 });
        const check = await run(node, ['dist/check.js'], app, { ...common, APP_URL: `http://127.0.0.1:${port}` }, 90_000);
        assert.equal(check.code, 0, `check failed:\n${check.stdout}\n${check.stderr}\nserver:\n${server.output.join('')}\nworker:\n${worker.output.join('')}`);
        const seen = JSON.parse(check.stdout.trim().split('\n').pop()!) as Record<string, any>;
        assert.equal(seen.node.split('.')[0], label.match(/\d+/)![0]);
        assert.deepEqual(seen.library, { sentTo: 7, locale: 'en', attempt: 1, ranBy: 'embedded' });
        assert.equal(seen.signup.sentTo, 8);
        assert.deepEqual(seen.http, { orderId: 'o-1', charged: 500, ranBy: 'standalone' });
        assert.equal(seen.httpJob, 'completed');
        assert.match(seen.libraryInvalid, /^PAYLOAD_INVALID data\.orderId: /);
        assert.match(seen.httpInvalid, /^422 PAYLOAD_INVALID data\.cents: /);
        assert.deepEqual(seen.failure, { code: 'JOB_FAILED', message: 'order o-2: cannot charge -1 cents' });
        assert.equal(seen.deadLetter, 'order o-2: cannot charge -1 cents');
        assert.equal(seen.deadOverHttp, true);
        assert.deepEqual(seen.fleet, ['billing', 'emails']);
        assert.deepEqual(seen.dashboard, { status: 200, links: true });
        assert.equal(seen.dashboardAnonymous, 401);
        assert.equal(seen.deepImport, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
      } finally {
        await server.stop();
        await worker.stop();
      }
      assert.equal(server.proc.exitCode, 0, server.output.join(''));
      assert.equal(worker.proc.exitCode, 0, worker.output.join(''));
    });
  }
});

/** A Node older than engines: CONVEYOR_TEST_NODE_20 (CI), scripts/node.sh's cache, or an old one on PATH. */
async function olderNode(): Promise<string | undefined> {
  const candidates = [process.env.CONVEYOR_TEST_NODE_20, join(ROOT, '.cache', 'node', '20', 'package', 'bin', 'node'), ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'node'))];
  for (const c of candidates) {
    if (!c || !existsSync(c)) continue;
    const v = await run(c, ['--version'], work);
    const major = Number(/^v(\d+)/.exec(v.stdout)?.[1] ?? 0);
    if (v.code === 0 && major > 0 && major < 22) return c;
  }
  if ((process.env.CONVEYOR_TEST_REQUIRE_NODES ?? '').split(',').includes('20')) throw new Error('Node 20 is required (CONVEYOR_TEST_REQUIRE_NODES) but none was found: run scripts/node.sh 20');
  return undefined;
}

test('on a Node older than engines, the conveyor command and the package each say so in one line', async (t) => {
  const node = await olderNode();
  if (!node) {
    t.skip('no Node older than 22 here (CI provides one: CONVEYOR_TEST_NODE_20)');
    return;
  }
  const old = await run(node, [join(app, 'node_modules', 'conveyor', 'bin', 'conveyor.js'), '--help'], app);
  assert.equal(old.code, 2);
  assert.equal(old.stdout, '');
  assert.match(old.stderr, /^conveyor: Node\.js 20\.\d+\.\d+ is not supported; Conveyor needs Node\.js 22\.12 or newer \(the 22, 24 or 26 LTS lines\)\.\n$/);
  const imported = await run(node, ['--input-type=module', '-e', "import('conveyor').catch((e) => { console.error(e.code + ' ' + e.message); process.exit(3); })"], app);
  assert.equal(imported.code, 3, imported.stderr);
  assert.match(imported.stderr, /^NODE_UNSUPPORTED Node\.js 20\.\d+\.\d+ is not supported: the conveyor package needs Node\.js 22\.12 or newer/);
});
