/** `conveyor schedules list|get|set|rm|run|pause|resume`: the Schedules class, as the API uses it. */
import type { ScheduleView } from '../shared/queue/schedules.ts';
import { jsonOption, str, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
import { table } from './output.ts';

function describe(s: ScheduleView): string {
  const rows: [string, unknown][] = [
    ['id', s.id],
    ['queue', s.queue],
    ['job name', s.name],
    ['cron', `${s.cron} (${s.tz})`],
    ['state', s.paused ? 'paused' : 'active'],
    ['managed by', s.managedBy],
    ['next runs', s.nextRuns.join('\n') || '-'],
    ['last run', s.lastRunAt],
    ['data', JSON.stringify(s.data)],
    ['options', JSON.stringify(s.opts)],
  ];
  return rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(12)}${String(v).replace(/\n/g, `\n${' '.repeat(12)}`)}`)
    .join('\n');
}

const byId = (verb: string, summary: string, run: CommandSpec['run']): CommandSpec => ({ path: ['schedules', verb], args: 'ID', minArgs: 1, summary, run });

export const scheduleCommands: CommandSpec[] = [
  {
    path: ['schedules', 'list'],
    summary: 'every cron schedule with its next run',
    options: { queue: { type: 'string', value: 'QUEUE', help: 'only the schedules of this queue' } },
    async run(ctx, { opts }) {
      const { schedules } = await ctx.open();
      const queue = str(opts, 'queue');
      const list = await schedules.list(queue === undefined ? {} : { queue });
      ctx.out.result({ schedules: list }, () =>
        list.length === 0
          ? 'no schedules'
          : table(
              ['ID', 'QUEUE', 'NAME', 'CRON', 'TZ', 'STATE', 'NEXT RUN', 'BY'],
              list.map((s) => [s.id, s.queue, s.name, s.cron, s.tz, s.paused ? 'paused' : 'active', s.nextRuns[0], s.managedBy]),
            ),
      );
    },
  },
  byId('get', 'one schedule with its next 5 runs', async (ctx, { args }) => {
    const { schedules } = await ctx.open();
    const s = await schedules.get(args[0]!);
    ctx.out.result(s, () => describe(s));
  }),
  {
    path: ['schedules', 'set'],
    args: 'ID',
    minArgs: 1,
    summary: 'create or replace a schedule',
    details: [
      'The cron expression and time zone are checked before anything is stored.',
      'A schedule from the SCHEDULES file cannot be changed here (change the file).',
      '',
      "Example: conveyor schedules set nightly-report --queue reports --name build --cron '0 3 * * *' --tz Europe/Paris",
    ].join('\n'),
    options: {
      queue: { type: 'string', value: 'QUEUE', help: 'the queue its jobs go to (required)' },
      name: { type: 'string', value: 'NAME', help: 'the job name (required)' },
      cron: { type: 'string', value: 'EXPR', help: 'cron expression, 5 or 6 fields (required)' },
      tz: { type: 'string', value: 'ZONE', help: 'IANA time zone (default UTC)' },
      data: { type: 'string', value: 'JSON', help: 'the data of each job' },
      opts: { type: 'string', value: 'JSON', help: 'job options: attempts, backoff, priority, timeout' },
    },
    async run(ctx, { args, opts }) {
      for (const f of ['queue', 'name', 'cron']) if (str(opts, f) === undefined) throw new UsageError(`--${f} is required`, 'conveyor schedules set');
      const data = jsonOption(opts, 'data');
      const jobOpts = jsonOption(opts, 'opts');
      const body = {
        queue: str(opts, 'queue'),
        name: str(opts, 'name'),
        cron: str(opts, 'cron'),
        ...(str(opts, 'tz') === undefined ? {} : { tz: str(opts, 'tz') }),
        ...(data === undefined ? {} : { data }),
        ...(jobOpts === undefined ? {} : { opts: jobOpts }),
      };
      const { schedules } = await ctx.open();
      const { schedule, created } = await schedules.put(args[0]!, body);
      ctx.out.result({ schedule, created }, () => `${created ? 'created' : 'updated'} schedule ${schedule.id}\n${describe(schedule)}`);
    },
  },
  byId('rm', 'delete a schedule (jobs it already enqueued stay)', async (ctx, { args }) => {
    const { schedules } = await ctx.open();
    await schedules.remove(args[0]!);
    ctx.out.result({ id: args[0], removed: true }, `removed schedule ${args[0]}`);
  }),
  byId('run', 'enqueue one job of a schedule now (also while paused)', async (ctx, { args }) => {
    const { schedules } = await ctx.open();
    const r = await schedules.runNow(args[0]!);
    ctx.out.result(r, `enqueued ${r.name} as ${r.id} in ${r.queue}`);
  }),
  byId('pause', 'stop a schedule producing jobs', async (ctx, { args }) => {
    const { schedules } = await ctx.open();
    const s = await schedules.pause(args[0]!);
    ctx.out.result(s, `paused schedule ${s.id}`);
  }),
  byId('resume', 'start a paused schedule again', async (ctx, { args }) => {
    const { schedules } = await ctx.open();
    const s = await schedules.resume(args[0]!);
    ctx.out.result(s, `resumed schedule ${s.id}; next run ${s.nextRuns[0] ?? '-'}`);
  }),
];
