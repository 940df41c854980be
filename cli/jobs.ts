/** `conveyor jobs get|list` and `conveyor enqueue`: the Inspector and the Producer. */
import { ConveyorError } from '../shared/errors.ts';
import { JOB_STATES, type JobState } from '../shared/queue/job-state.ts';
import type { JobView } from '../shared/queue/inspector.ts';
import { intOption, jsonOption, str, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
import { preview, table } from './output.ts';

function describeJob(j: JobView): string {
  const rows: [string, unknown][] = [
    ['id', j.id],
    ['queue', j.queue],
    ['name', j.name],
    ['state', j.state],
    ['attempts made', `${j.attemptsMade}${j.opts.attempts ? ` of ${j.opts.attempts}` : ''}`],
    ['created', j.createdAt],
    ['processed', j.processedAt],
    ['finished', j.finishedAt],
    ['options', JSON.stringify(j.opts)],
    ['data', JSON.stringify(j.data, null, 2)],
  ];
  if (j.returnValue !== null && j.returnValue !== undefined) rows.push(['result', JSON.stringify(j.returnValue, null, 2)]);
  if (j.failedReason) rows.push(['error', j.failedReason]);
  return rows
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(15)}${String(v).replace(/\n/g, `\n${' '.repeat(15)}`)}`)
    .join('\n');
}

export const jobCommands: CommandSpec[] = [
  {
    path: ['jobs', 'get'],
    args: 'QUEUE ID',
    minArgs: 2,
    summary: 'one job: state, data, options, attempts, result or error',
    details: 'Finds the job in its queue or among its dead letters. Exit 3 when there is no such job.',
    async run(ctx, { args }) {
      const [queue, id] = args as [string, string];
      const { inspector } = await ctx.open();
      const job = await inspector.getJob(queue, id);
      if (!job) throw new ConveyorError('JOB_NOT_FOUND', `no job "${id}" in queue "${queue}"`, { queue, id });
      ctx.out.result(job, () => describeJob(job));
    },
  },
  {
    path: ['jobs', 'list'],
    args: 'QUEUE',
    minArgs: 1,
    summary: 'jobs of a queue in one state, paged',
    options: {
      state: { type: 'string', value: 'STATE', help: `one of ${JOB_STATES.join(', ')} (default waiting)` },
      offset: { type: 'string', value: 'N', help: 'skip the first N (default 0)' },
      limit: { type: 'string', value: 'N', help: 'at most N jobs (default 50, at most 1000)' },
    },
    async run(ctx, { args, opts }) {
      const queue = args[0]!;
      const state = (str(opts, 'state') ?? 'waiting') as JobState;
      if (!JOB_STATES.includes(state)) throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}`);
      const offset = intOption(opts, 'offset', 0);
      const limit = intOption(opts, 'limit', 50, 1, 1000);
      const { inspector } = await ctx.open();
      await inspector.requireQueue(queue);
      const page = await inspector.listJobs(queue, state, offset, limit);
      ctx.out.result(page, () => {
        if (page.jobs.length === 0) return `no ${state} jobs in ${queue} (total ${page.total})`;
        const rows = page.jobs.map((j) => [j.id, j.name, j.attemptsMade, j.createdAt, preview(j.failedReason ?? j.data, 50)]);
        const shown = `${offset + 1}-${offset + page.jobs.length} of ${page.total} ${state}`;
        return `${table(['ID', 'NAME', 'ATTEMPTS', 'CREATED', state === 'failed' || state === 'dead' ? 'ERROR' : 'DATA'], rows)}\n(${shown})`;
      });
    },
  },
  {
    path: ['enqueue'],
    args: 'QUEUE NAME',
    minArgs: 2,
    summary: 'add a job to a queue',
    details: [
      'Options as in the HTTP API: {"delay": ms, "priority": n, "attempts": n, "backoff": {"type": "fixed"|"exponential", "delay": ms},',
      '"jobId": "...", "timeout": ms}. The same jobId twice enqueues once ("duplicate": true).',
      '',
      "Example: conveyor enqueue emails send-welcome --data '{\"to\":\"a@example.com\"}' --opts '{\"attempts\":5}'",
    ].join('\n'),
    options: {
      data: { type: 'string', value: 'JSON', help: 'the job data (default null)' },
      opts: { type: 'string', value: 'JSON', help: 'job options, as in the HTTP API' },
    },
    async run(ctx, { args, opts }) {
      const [queue, name] = args as [string, string];
      const data = jsonOption(opts, 'data');
      const jobOpts = jsonOption(opts, 'opts');
      const { producer } = await ctx.open();
      const r = await producer.enqueue(queue, { name, ...(data === undefined ? {} : { data }), ...(jobOpts === undefined ? {} : { opts: jobOpts }) });
      ctx.out.result(r, r.duplicate ? `job ${r.id} already exists in ${queue}: nothing added` : `enqueued ${r.name} as ${r.id} in ${queue}`);
    },
  },
];
