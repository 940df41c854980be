/**
 * For tests of misconfiguration: start a Conveyor process that must fail, and
 * check SPEC's promise: one line on stderr naming the cause and the fix,
 * within 10 s, a non-zero exit code, and no secret in anything it printed.
 */
import assert from 'node:assert/strict';
import { spawnConveyor, type ProcessKind } from '../shared/testing/processes.ts';

export const KINDS: readonly ProcessKind[] = ['server', 'worker', 'dashboard'];
/** SPEC: "within 10 s, never a hang". */
export const START_FAILURE_LIMIT_MS = 10_000;

export interface Failure {
  kind: ProcessKind;
  code: number | string;
  ms: number;
  stderr: string;
  /** stdout and stderr, every line. */
  output: string;
}

/** Starts `kind` with env (ports 0); resolves when it exits (SIGKILL after 20 s counts as a hang). */
export async function failedStart(kind: ProcessKind, env: Record<string, string>): Promise<Failure> {
  const started = Date.now();
  const p = spawnConveyor(kind, { API_PORT: '0', DASHBOARD_PORT: '0', ...env });
  let stderr = '';
  p.proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { kind, code, ms: Date.now() - started, stderr, output: p.lines.map((l) => l.raw).join('\n') };
}

/** The same misconfiguration for server, worker and dashboard at once. */
export function failedStarts(env: Record<string, string>): Promise<Failure[]> {
  return Promise.all(KINDS.map((k) => failedStart(k, env)));
}

/**
 * Exit code non-zero (not killed), within the limit, exactly one stderr line
 * "conveyor <kind>: CODE: ..." matching every pattern, secrets nowhere.
 */
export function assertOneClearLine(f: Failure, code: string, says: RegExp[], secrets: string[] = []): string {
  assert.equal(typeof f.code, 'number', `${f.kind} was killed instead of exiting: ${f.code}\n${f.output.slice(-2000)}`);
  assert.notEqual(f.code, 0, `${f.kind} exit code`);
  assert.ok(f.ms < START_FAILURE_LIMIT_MS, `${f.kind} took ${f.ms} ms`);
  const lines = f.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${f.kind}: stderr is not one line:\n${f.stderr}`);
  const line = lines[0]!;
  assert.match(line, new RegExp(`^conveyor ${f.kind}: ${code}: `), `${f.kind}: ${line}`);
  for (const s of says) assert.match(line, s, `${f.kind}: ${line}`);
  for (const secret of secrets) assert.ok(!f.output.includes(secret), `${f.kind} printed a secret`);
  return line;
}

/** Checks all three and prints what each said and how long it took. */
export function assertAllClear(label: string, failures: Failure[], code: string, says: RegExp[], secrets: string[] = []): void {
  for (const f of failures) {
    const line = assertOneClearLine(f, code, says, secrets);
    console.log(`  [${label}] ${f.kind}: exit ${f.code} after ${f.ms} ms: ${line}`);
  }
}
