/**
 * What the benchmark enqueues, and the plain BullMQ side of it. The baseline
 * uses Conveyor's own job options (toBullOptions: UUID ids, 3 attempts,
 * exponential backoff, the default completed-job retention) and its naming
 * (prefix "conveyor", hash-tagged queue names), so both sides store and move
 * the very same jobs.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullName, PREFIX } from '../../shared/queue/names.ts';
import { toBullOptions } from '../../shared/queue/job-input.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';

/** Job data whose JSON is exactly 100 bytes. */
export function payload100(i = 0): { user: number; email: string; pad: string } {
  const base = { user: i, email: `user${i}@example.com`, pad: '' };
  const len = Buffer.byteLength(JSON.stringify(base));
  return { ...base, pad: 'x'.repeat(Math.max(0, 100 - len)) };
}

export function benchQueueName(what: string): string {
  return `bench-${what}-${randomUUID().slice(0, 6)}`;
}

/** A plain BullMQ Queue for a Conveyor queue name, on a connection the caller owns. */
export function plainQueue(connection: Redis | Cluster, queue: string): Queue {
  const q = new Queue(bullName(queue), { connection, prefix: PREFIX });
  q.on('error', () => {});
  return q;
}

/** The options every benchmark job carries, on both sides. */
export const jobOpts = () => toBullOptions(undefined);

/** Adds n jobs (plain addBulk, 1000 per call) to a queue that is usually paused; `bare`: no options at all (BullMQ's defaults). */
export async function fill(q: Queue, n: number, name = 'noop', data: (i: number) => unknown = () => null, bare = false): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const count = Math.min(1000, n - i);
    await q.addBulk(Array.from({ length: count }, (_, k) => (bare ? { name, data: data(i + k) } : { name, data: data(i + k), opts: jobOpts() })));
  }
}

/** Resolves when no job of the queue is waiting or running. */
export async function drained(q: Queue, timeoutMs: number): Promise<void> {
  await waitFor(`queue ${q.name} to drain`, async () => {
    const c = await q.getJobCounts('wait', 'active', 'prioritized', 'delayed');
    return Object.values(c).every((v) => v === 0);
  }, { timeoutMs, intervalMs: 10 });
}
