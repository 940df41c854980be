/**
 * `conveyor history [filters]`, `conveyor history timeline QUEUE ID`,
 * `conveyor history gaps`: the job history in PostgreSQL (HISTORY_URL), as
 * GET /v1/history and GET /v1/queues/:queue/jobs/:id/timeline answer it.
 */
import type { HistoryJob, HistoryPage, HistoryTimeline } from '../shared/history/store.ts';
import { intOption, str, type CommandSpec, type OptionValues } from './command.ts';
import { NotFoundError, UsageError } from './exit-codes.ts';
import { table } from './output.ts';

const ms = (v: number | null) => (v === null ? '-' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);
const short = (s: string | null, n = 60) => (s === null ? '-' : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** --data 'user.id=42,plan=pro' → { 'user.id': '42', plan: 'pro' } (the API compares "42" with 42 too). */
function dataFilter(raw: string | undefined): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--data expects path=value pairs separated by commas (e.g. user.id=42), got ${JSON.stringify(pair)}`, 'conveyor history');
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

function searchOf(opts: OptionValues) {
  const data = dataFilter(str(opts, 'data'));
  return {
    ...(str(opts, 'queue') ? { queue: str(opts, 'queue') } : {}),
    ...(str(opts, 'name') ? { name: str(opts, 'name') } : {}),
    ...(str(opts, 'state') ? { state: str(opts, 'state') } : {}),
    ...(str(opts, 'key') ? { key: str(opts, 'key') } : {}),
    ...(str(opts, 'since') ? { since: str(opts, 'since') } : {}),
    ...(str(opts, 'until') ? { until: str(opts, 'until') } : {}),
    ...(str(opts, 'text') ? { q: str(opts, 'text') } : {}),
    ...(data ? { data } : {}),
    ...(str(opts, 'cursor') ? { cursor: str(opts, 'cursor') } : {}),
    limit: intOption(opts, 'limit', 50, 1, 500),
  };
}

function jobsTable(page: HistoryPage): string {
  if (page.jobs.length === 0) return 'no jobs in the history match';
  const rows = page.jobs.map((j: HistoryJob) => [j.id, j.queue, j.name ?? '-', j.state, j.attempts, short(j.worker, 30), ms(j.durationMs), j.createdAt, short(j.errorCode ? `${j.errorCode}: ${j.error ?? ''}` : j.error, 50)]);
  const t = table(['ID', 'QUEUE', 'NAME', 'STATE', 'ATTEMPTS', 'WORKER', 'DURATION', 'ENQUEUED', 'ERROR'], rows);
  return page.next ? `${t}\nolder: --cursor ${page.next}` : t;
}

function timelineText(t: HistoryTimeline): string {
  const j = t.job;
  const head = j ? `${t.queue}/${t.id}  ${j.name ?? '-'}  ${j.state}  enqueued ${j.createdAt}${j.key ? `  key ${j.key}` : ''}` : `${t.queue}/${t.id}`;
  const attempts = t.attempts.length
    ? table(['ATTEMPT', 'WORKER', 'STARTED', 'ENDED', 'OUTCOME', 'DURATION', 'ERROR'], t.attempts.map((a) => [a.attempt, short(a.worker, 30), a.startedAt, a.endedAt ?? '-', a.outcome, ms(a.durationMs), short(a.error ? `${a.error.code ?? ''}${a.error.code ? ': ' : ''}${a.error.message ?? ''}` : null, 50)]))
    : 'no attempts yet';
  const events = table(['AT', 'EVENT', 'ATTEMPT', 'BY'], t.events.map((e) => [e.at, e.type, e.attempt ?? '-', e.actor ?? e.worker ?? '-']));
  return [head, '', 'attempts:', attempts, '', 'events:', events].join('\n');
}

const FILTERS = {
  queue: { type: 'string', value: 'QUEUE', help: 'jobs of this queue' },
  name: { type: 'string', value: 'NAME', help: 'jobs of this job name' },
  state: { type: 'string', value: 'STATE', help: 'waiting, delayed, active, completed, failed, dead, dropped or removed' },
  key: { type: 'string', value: 'KEY', help: 'jobs of this flow key' },
  since: { type: 'string', value: 'TIME', help: 'enqueued at or after (ISO 8601 or epoch ms)' },
  until: { type: 'string', value: 'TIME', help: 'enqueued before (ISO 8601 or epoch ms)' },
  text: { type: 'string', value: 'WORDS', help: "words in the job's name, id, key, last error or payload" },
  data: { type: 'string', value: 'PATH=VALUE,…', help: 'payload fields, e.g. user.id=42' },
  limit: { type: 'string', value: 'N', help: 'jobs per page (1-500, default 50)' },
  cursor: { type: 'string', value: 'CURSOR', help: 'the next page (printed below a full page)' },
} as const;

export const historyCommands: CommandSpec[] = [
  {
    path: ['history'],
    summary: 'search the job history (HISTORY_URL): newest first, every filter of GET /v1/history',
    details: 'Needs HISTORY_URL (the server archives every job event there).\nJSON: {"jobs": [...], "next": cursor|null}, as GET /v1/history.',
    options: FILTERS,
    async run(ctx, { opts }) {
      const search = searchOf(opts);
      const { conveyor } = await ctx.open();
      const page = await conveyor.history.search(search);
      ctx.out.result(page, () => jobsTable(page));
    },
  },
  {
    path: ['history', 'timeline'],
    args: 'QUEUE ID',
    minArgs: 2,
    summary: "one job's timeline: every attempt (worker, start, end, outcome, error) and event",
    details: 'JSON: as GET /v1/queues/:queue/jobs/:id/timeline. Exit 3 when the history has no such job.',
    async run(ctx, { args }) {
      const [queue, id] = args as [string, string];
      const { conveyor } = await ctx.open();
      const t = await conveyor.history.timeline(queue, id);
      if (!t) throw new NotFoundError(`the history has no job "${id}" in queue "${queue}"`);
      ctx.out.result(t, () => timelineText(t));
    },
  },
  {
    path: ['history', 'gaps'],
    summary: 'where the history misses events (Redis trimmed them before the archiver read them)',
    details: 'JSON: {"gaps": [...]}.',
    async run(ctx) {
      const { conveyor } = await ctx.open();
      const gaps = await conveyor.history.gaps(50);
      ctx.out.result({ gaps }, () => (gaps.length === 0 ? 'no gaps: the history has every event' : table(['QUEUE', 'STREAM', 'FROM', 'TO', 'MISSING', 'FOUND'], gaps.map((g) => [g.queue ?? '-', g.stream, g.from, g.to, g.missing ?? '?', g.detectedAt]))));
    },
  },
];
