/**
 * One item of a processing list, from "moved out of the source" to "done":
 *
 *   1. translate it (foreign-payload.ts); a bad one goes to the rejected list
 *   2. pick its job id: the Sidekiq jid, or an id chosen now and remembered in
 *      the bridge's claims hash (HSETNX), so a replay reuses it
 *   3. enqueue with that id (a second enqueue of the same id adds nothing)
 *   4. LREM it from the processing list and forget its claim, in one MULTI
 *
 * A crash anywhere leaves the item in the processing list; replaying it runs
 * these steps again with the same id: never lost, never enqueued twice.
 * Identical Resque payloads pushed twice are two items with two ids (Resque
 * runs both), which a plain content hash would have merged.
 */
import { randomUUID } from 'node:crypto';
import { isConveyorError } from '../errors.ts';
import type { Producer } from '../queue/producer.ts';
import type { RedisConnection } from '../redis/connections.ts';
import { describeSource, interopKeys } from './interop-keys.ts';
import { newForeignJobId, sha256, translateItem } from './foreign-payload.ts';
import { rejectedEntry } from './rejected.ts';

export type Outcome = 'enqueued' | 'duplicate' | 'rejected';

export interface ItemContext {
  conn: RedisConnection;
  producer: Producer;
  /** The bridge whose processing list and claims hold the item (this one, or a dead one being recovered). */
  owner: string;
  /** The bridge doing the work (named in rejected entries). */
  by: string;
  /** The source key the item came from. */
  source: string;
  /** Test hook: runs after the enqueue and before the item leaves the processing list. */
  afterEnqueue?: ((item: string, source: string) => Promise<void>) | undefined;
}

async function exec(m: ReturnType<RedisConnection['multi']>): Promise<unknown[]> {
  const replies = await m.exec();
  if (!replies) throw new Error('MULTI was aborted');
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, v]) => v);
}

export async function handleItem(ctx: ItemContext, item: string): Promise<{ outcome: Outcome; id?: string; reason?: string }> {
  const { conn, owner, source } = ctx;
  const processing = interopKeys.processing(owner, source);
  const claims = interopKeys.claims(owner);
  const claimField = `${source}\u0000${sha256(item)}`;
  const reject = async (reason: string) => {
    await exec(conn.multi().lpush(interopKeys.rejected, rejectedEntry(item, reason, source, ctx.by)).lrem(processing, 1, item).hdel(claims, claimField));
    return { outcome: 'rejected' as const, reason };
  };

  const t = translateItem(item, source);
  if (!t.ok) return reject(t.reason);
  const { job } = t;
  let jobId = job.opts.jobId;
  if (job.needsId) {
    const [, chosen] = await exec(conn.multi().hsetnx(claims, claimField, newForeignJobId(describeSource(source).format, randomUUID())).hget(claims, claimField));
    jobId = String(chosen);
  }
  let duplicate: boolean;
  try {
    ({ duplicate } = await ctx.producer.enqueue(job.queue, { name: job.name, data: job.data, opts: { ...job.opts, jobId } }));
  } catch (err) {
    // Input Conveyor refuses (too large, bad name) is the payload's fault: reject it. Anything else (Redis) is retried.
    if (isConveyorError(err) && err.status >= 400 && err.status < 500) return reject(`${err.code}: ${err.message}`);
    throw err;
  }
  await ctx.afterEnqueue?.(item, source);
  await exec(conn.multi().lrem(processing, 1, item).hdel(claims, claimField));
  return { outcome: duplicate ? 'duplicate' : 'enqueued', id: jobId! };
}
