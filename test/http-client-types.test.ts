/**
 * The client's types, checked by the compiler:
 *
 * - here, at the project's typecheck (npx tsc -p tsconfig.json): the shapes
 *   the library also returns are the library's own types (one definition:
 *   http-client/api-types.ts imports them), and the envelopes only the HTTP
 *   API has fit what the server's code returns;
 * - in the test: fixtures written beside the tests and compiled with tsc. Typed
 *   enqueues of a definition (type-only import, as an app would) compile, and
 *   each wrong payload, name or field is an error at that field, naming it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type * as client from '../http-client/index.ts';
import type { JobView, QueueSummary } from '../shared/queue/inspector.ts';
import type { DeadLetter } from '../shared/queue/dead-letter.ts';
import type { ScheduleView } from '../shared/queue/schedules.ts';
import type { EnqueueResult } from '../shared/queue/producer.ts';
import type { JobInput } from '../shared/conveyor.ts';

// ---- Compile-time agreement with the server's types (no run-time effect). ----
type Assignable<From, To> = [From] extends [To] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(): T | undefined => undefined;
// One definition of each shape the library returns too.
agree<Same<QueueSummary, client.QueueSummary>>();
agree<Same<JobView, client.JobView>>();
agree<Same<DeadLetter, client.DeadLetter>>();
agree<Same<ScheduleView, client.ScheduleView>>();
// The API's own envelopes fit what the server's code returns.
agree<Assignable<Pick<EnqueueResult, 'id' | 'name'>, Pick<client.EnqueueResult, 'id' | 'name'>>>();
agree<Assignable<{ queues: QueueSummary[] }, client.QueueList>>();
// What the client sends is what the library takes.
agree<Same<client.JobInput, JobInput>>();

// ---- The compiler on fixtures. ----
const root = join(import.meta.dirname, '..');
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
let dir: string;

before(() => {
  // Inside the repository, so the fixtures' relative imports and packages resolve; test-artifacts/ is ignored by git.
  const artifacts = join(root, 'test-artifacts');
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(join(artifacts, 'http-client-types-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = (from: string) => `import { createHttpClient } from '${from}/http-client/index.ts';
import type { JobView, ScheduleView } from '${from}/http-client/index.ts';
import type { resizeImage, sendWelcome } from '${from}/test/fixtures/http-client-jobs.ts';
declare const jobs: { sendWelcome: typeof sendWelcome; resizeImage: typeof resizeImage };
const client = createHttpClient({ baseUrl: 'http://127.0.0.1:3000', token: 't' });
`;

const GOOD = `
export async function good(): Promise<void> {
  await client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userId: 42 } });
  await client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userId: 42, locale: 'fr' }, opts: { attempts: 2 } });
  await client.enqueueJob('emails', { name: 'anything', data: { any: ['thing'] } });
  await client.enqueueJob('emails', { name: 'no-data' });
  // A union of definitions: the name picks the data type.
  await client.enqueueJobsBulk<typeof sendWelcome | typeof resizeImage>('mixed', [
    { name: 'send-welcome', data: { userId: 1 } },
    { name: 'resize-image', data: { url: 'a.png', width: 10 } },
  ]);
  await client.enqueue(jobs.sendWelcome, { userId: 42 }, { delay: 1000 });
  await client.enqueueBulk(jobs.resizeImage, [{ url: 'a.png', width: 1 }]);
  await client.putSchedule<typeof sendWelcome>('nightly', { queue: 'emails', name: 'send-welcome', cron: '0 2 * * *', data: { userId: 1 } });
  const r = await client.enqueue(jobs.sendWelcome, { userId: 1 });
  const id: string = r.id;
  const dup: true | undefined = r.duplicate;
  const job: JobView = await client.getJob('emails', id);
  const state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'dead' = job.state;
  const when: string | null = job.createdAt;
  const page = await client.listJobs('emails', { state: 'failed', limit: 10 });
  const total: number = page.total;
  const dead = await client.listDeadLetters('emails');
  const reason: string = dead.jobs[0]!.failedReason;
  const s: ScheduleView = await client.getSchedule('nightly');
  const next: string[] = s.nextRuns;
  const text: string = await client.metrics();
  void [dup, state, when, total, reason, next, text];
}
`;

/**
 * Each line that must not compile, with the token the error must point at and
 * what its message must say. A line is found by its text, so the fixture
 * stays readable.
 */
const BAD: { code: string; at: string; message: RegExp }[] = [
  { code: `client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userI: 42 } });`, at: 'userI', message: /'userI' does not exist in type/ },
  { code: `client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userId: '42' } });`, at: 'userId', message: /Type 'string' is not assignable to type 'number'/ },
  { code: `client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcom', data: { userId: 1 } });`, at: 'name', message: /"send-welcom"' is not assignable to type '"send-welcome"'/ },
  { code: `client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome' });`, at: '{ name', message: /Property 'data' is missing/ },
  { code: `client.enqueue(jobs.sendWelcome, { userId: 42, extra: true });`, at: 'extra', message: /'extra' does not exist in type/ },
  { code: `client.enqueue(jobs.resizeImage, { url: 'a.png' });`, at: '{ url', message: /Property 'width' is missing/ },
  { code: `client.enqueueBulk(jobs.resizeImage, [{ url: 'a.png', widht: 1 }]);`, at: 'widht', message: /'widht' does not exist in type/ },
  { code: `client.enqueueJobsBulk<typeof sendWelcome | typeof resizeImage>('q', [{ name: 'resize-image', data: { userId: 1 } }]);`, at: 'userId', message: /'userId' does not exist in type/ },
  { code: `client.putSchedule<typeof sendWelcome>('s', { queue: 'q', name: 'send-welcome', cron: '* * * * *', data: { user: 1 } });`, at: 'user', message: /'user' does not exist in type/ },
  { code: `client.listJobs('q', { state: 'lost' });`, at: 'state', message: /'"lost"' is not assignable to type 'JobState'/ },
];

interface Diagnostic {
  file: string;
  line: number;
  column: number;
  text: string;
}

function compile(files: Record<string, string>): Diagnostic[] {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const up = relative(dir, root).split('\\').join('/');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: `${up}/tsconfig.json`, compilerOptions: { noEmit: true, noUnusedLocals: false }, include: [], files: Object.keys(files) }));
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, String(r.error));
  const out = `${r.stdout}${r.stderr}`;
  const diagnostics: Diagnostic[] = [];
  for (const line of out.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+: .*)$/.exec(line.trim());
    if (m) diagnostics.push({ file: m[1]!.split(/[\\/]/).at(-1)!, line: Number(m[2]), column: Number(m[3]), text: m[4]! });
    else if (/^\s+\S/.test(line) && diagnostics.length > 0) diagnostics.at(-1)!.text += `\n${line.trim()}`; // continuation of a message
  }
  assert.equal(r.status === 0, diagnostics.length === 0, `tsc exit ${r.status} with ${diagnostics.length} diagnostics:\n${out}`);
  return diagnostics;
}

test('typed enqueues of a definition compile; every wrong payload, name or field is a compile error at it, naming it', () => {
  const bad = `${HEADER('../..')}\nexport async function bad(): Promise<void> {\n${BAD.map((b) => `  await ${b.code}`).join('\n')}\n}\n`;
  const diagnostics = compile({ 'good.ts': `${HEADER('../..')}${GOOD}`, 'bad.ts': bad });
  assert.deepEqual(diagnostics.filter((d) => d.file === 'good.ts'), [], 'the good fixture compiles');

  const lines = bad.split('\n');
  const unexplained = new Set(diagnostics.filter((d) => d.file === 'bad.ts'));
  for (const b of BAD) {
    const line = lines.findIndex((l) => l.includes(b.code)) + 1;
    const column = lines[line - 1]!.indexOf(b.at, lines[line - 1]!.indexOf('(')) + 1;
    const found = diagnostics.find((d) => d.file === 'bad.ts' && d.line === line && d.column === column && b.message.test(d.text));
    assert.ok(found, `${b.code}\n  expected an error at "${b.at}" (${line}:${column}) matching ${b.message}; got:\n${diagnostics.filter((d) => d.line === line).map((d) => `  ${d.line}:${d.column} ${d.text}`).join('\n') || '  none'}`);
    for (const d of diagnostics) if (d.line === line) unexplained.delete(d);
  }
  assert.deepEqual([...unexplained], [], 'no error on a line not listed');
});
