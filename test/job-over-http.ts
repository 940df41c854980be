/**
 * The API as a producer sees it, for tests that only need "enqueue this, wait
 * until that job reaches a state": JSON over fetch against a server process.
 */
import assert from 'node:assert/strict';
import { waitFor } from '../shared/testing/wait-for.ts';

export interface Answer {
  status: number;
  json: any;
}

export async function call(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** POSTs one job; asserts 201; returns its id. */
export async function enqueue(base: string, queue: string, job: { name: string; data?: unknown; opts?: Record<string, unknown> }): Promise<string> {
  const r = await call(base, 'POST', `/v1/queues/${queue}/jobs`, job);
  assert.equal(r.status, 201, `enqueue answered ${r.status}: ${JSON.stringify(r.json)}`);
  return String(r.json.id);
}

/** Polls GET job until its state is `state`; returns the job and how long it took. */
export async function waitForState(base: string, queue: string, id: string, state: string, timeoutMs = 15_000): Promise<{ job: any; ms: number }> {
  const t0 = Date.now();
  const job = await waitFor(`job ${id} to be ${state}`, async () => {
    const r = await call(base, 'GET', `/v1/queues/${queue}/jobs/${encodeURIComponent(id)}`);
    return r.status === 200 && r.json.state === state ? r.json : undefined;
  }, { timeoutMs, intervalMs: 50 });
  return { job, ms: Date.now() - t0 };
}
