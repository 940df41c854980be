/**
 * Turning a Resque or Sidekiq payload into a Conveyor job, or saying why it
 * cannot be one. Pure: no Redis, no clock but the one passed in.
 *
 *   Resque  {"class":"X","args":[...]}                       → job X, data {args, resque: {…rest}}
 *   Sidekiq {"class":"X","args":[...],"jid":"…","retry":n,…} → job X, data {args, sidekiq: {…rest}},
 *           jobId = jid, attempts = n + 1 (Sidekiq counts retries, Conveyor counts runs)
 *   ActiveJob through Sidekiq: the job name is "wrapped" (the ActiveJob class), as Sidekiq's UI shows it.
 *   Sidekiq's schedule zset: the item is "<score>\t<payload>"; the score (run-at, seconds) becomes the delay.
 */
import { createHash } from 'node:crypto';
import { isValidJobId, isValidJobName, isValidQueueName } from '../queue/names.ts';
import { describeSource, foreignKeys, type InteropFormat } from './interop-keys.ts';

export interface ForeignJob {
  queue: string;
  name: string;
  data: { args: unknown[] } & Record<string, unknown>;
  opts: { jobId?: string; attempts?: number; delay?: number };
  /** The payload carries no id of its own (Resque, or Sidekiq without jid): the bridge chooses one and remembers it. */
  needsId: boolean;
}

export type Translation = { ok: true; job: ForeignJob } | { ok: false; reason: string };

/** The most attempts Conveyor accepts (job-input.ts). */
const MAX_ATTEMPTS = 1000;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Splits a schedule item "<score>\t<payload>" (as the bridge stores it in its processing list). */
export function splitScheduleItem(item: string): { runAtMs: number | undefined; payload: string } {
  const tab = item.indexOf('\t');
  if (tab < 0) return { runAtMs: undefined, payload: item };
  const score = Number(item.slice(0, tab));
  return { runAtMs: Number.isFinite(score) ? Math.round(score * 1000) : undefined, payload: item.slice(tab + 1) };
}

const reject = (reason: string): Translation => ({ ok: false, reason });

/** One processing-list item of a source key → a job, or the reason it is rejected. */
export function translateItem(item: string, source: string, now = Date.now()): Translation {
  const { format, queue: listQueue } = describeSource(source);
  const scheduled = source === foreignKeys.sidekiqSchedule;
  const { runAtMs, payload: raw } = scheduled ? splitScheduleItem(item) : { runAtMs: undefined, payload: item };

  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch (err) {
    return reject(`not valid JSON: ${(err as Error).message}`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return reject('not a JSON object');
  const { class: cls, args = [], ...rest } = payload as Record<string, unknown>;
  if (typeof cls !== 'string' || cls.trim() === '') return reject('no "class" (a non-empty string naming the job)');
  if (!Array.isArray(args)) return reject('"args" is not an array');

  const queue = listQueue ?? (typeof rest.queue === 'string' ? rest.queue : undefined);
  if (queue === undefined) return reject('a scheduled Sidekiq job without "queue"');
  if (!isValidQueueName(queue)) return reject(`queue "${queue}" is not a valid Conveyor queue name (1-64 of A-Z a-z 0-9 . _ -)`);
  const name = typeof rest.wrapped === 'string' && rest.wrapped !== '' ? rest.wrapped : cls;
  if (!isValidJobName(name)) return reject(`class "${String(name).slice(0, 200)}" is not a valid job name (1-128 printable characters)`);

  const opts: ForeignJob['opts'] = {};
  let needsId = true;
  if (format === 'sidekiq') {
    if (typeof rest.jid === 'string' && rest.jid !== '') {
      // A jid Conveyor cannot use as an id (":" or all digits) still gives a stable one.
      opts.jobId = isValidJobId(rest.jid) ? rest.jid : `sidekiq-${sha256(rest.jid).slice(0, 40)}`;
      needsId = false;
    }
    const attempts = attemptsOf(rest.retry);
    if (attempts !== undefined) opts.attempts = attempts;
  }
  if (runAtMs !== undefined && runAtMs > now) opts.delay = runAtMs - now;

  return { ok: true, job: { queue, name, data: { args, [format]: rest }, opts, needsId } };
}

/** Sidekiq's retry → Conveyor attempts: n retries = n + 1 runs; false = 1 run; true or absent = Conveyor's default. */
function attemptsOf(retry: unknown): number | undefined {
  if (retry === false) return 1;
  if (typeof retry === 'number' && Number.isInteger(retry) && retry >= 0) return Math.min(MAX_ATTEMPTS, retry + 1);
  return undefined;
}

/** The id the bridge gives an item without one: unique per move, remembered in the claims hash until the item is done. */
export function newForeignJobId(format: InteropFormat, uuid: string): string {
  return `${format}-${uuid}`;
}
