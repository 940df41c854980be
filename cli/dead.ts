/** `conveyor dead list|replay|drop`: DeadLetters, one by id, all, or by error text, with --dry-run. */
import type { DeadLetterReport, DeadLetterSelection } from '../shared/queue/dead-letter-actions.ts';
import { intOption, str, type CommandInput, type CommandSpec } from './command.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';
import { plural, preview, table } from './output.ts';

const SELECT_OPTIONS = {
  all: { type: 'boolean', help: 'every dead letter of the queue' },
  match: { type: 'string', value: 'TEXT', help: 'only dead letters whose error contains TEXT (case-insensitive)' },
  'dry-run': { type: 'boolean', help: 'show what would be affected; change nothing' },
} as const;

type Action = 'replay' | 'drop';

function actionSpec(action: Action): CommandSpec {
  const verb = action === 'replay' ? 'replayed' : 'dropped';
  return {
    path: ['dead', action],
    args: 'QUEUE [ID]',
    minArgs: 1,
    maxArgs: 2,
    summary: action === 'replay' ? 'send dead letters back to their queue (same id, name, data, options)' : 'delete dead letters for good',
    details: [
      `Give one ID, or --all, or --match TEXT (every dead letter whose error contains TEXT).`,
      `--dry-run counts and lists what would be ${verb} without changing anything.`,
      'Long runs show progress on stderr.',
      '',
      `Example: conveyor dead ${action} emails --match "ECONNREFUSED" --dry-run`,
    ].join('\n'),
    options: { ...SELECT_OPTIONS },
    run: (ctx, input) => runAction(ctx, input, action),
  };
}

async function runAction(ctx: CliContext, { args, opts }: CommandInput, action: Action): Promise<void> {
  const [queue, id] = args as [string, string | undefined];
  const match = str(opts, 'match');
  const all = opts.all === true;
  const dryRun = opts['dry-run'] === true;
  const ways = [id !== undefined, all, match !== undefined].filter(Boolean).length;
  if (ways !== 1) throw new UsageError('give exactly one of: an ID, --all, --match TEXT', `conveyor dead ${action}`);
  if (match === '') throw new UsageError('--match needs some text');

  const { conveyor } = await ctx.open();
  const verb = action === 'replay' ? 'replayed' : 'dropped';
  const selection: DeadLetterSelection = id !== undefined ? id : all ? { all: true } : { match: match! };
  const onProgress = (done: number, total: number) => ctx.out.progress(`${verb} ${done}/${total}`);
  const r = await conveyor.deadLetters[action === 'replay' ? 'replay' : 'drop'](queue, selection, { dryRun, onProgress });
  if (!dryRun && id === undefined) ctx.out.progress(`${verb} ${r.done + (r.gone ?? 0)}/${r.selected}`, { final: true });
  report(ctx, r);
}

function report(ctx: CliContext, r: DeadLetterReport): void {
  const verb = r.action === 'replay' ? 'replayed' : 'dropped';
  ctx.out.result(r, () => {
    if (r.dryRun) {
      const head = `dry run: ${plural(r.selected, 'dead letter')} of ${r.queue} would be ${verb}`;
      if (!r.preview?.length) return head;
      const rows = r.preview.map((d) => [d.id, d.name, d.deadAt, preview(d.failedReason, 60)]);
      return `${head}\n${table(['ID', 'NAME', 'DEAD SINCE', 'ERROR'], rows)}${r.selected > r.preview.length ? `\n(first ${r.preview.length} shown)` : ''}`;
    }
    return `${verb} ${plural(r.done, 'dead letter')} of ${r.queue}${r.gone ? ` (${r.gone} already gone)` : ''}`;
  });
}

export const deadCommands: CommandSpec[] = [
  {
    path: ['dead', 'list'],
    args: 'QUEUE',
    minArgs: 1,
    summary: 'dead letters of a queue, newest first',
    options: {
      match: { type: 'string', value: 'TEXT', help: 'only those whose error contains TEXT (case-insensitive)' },
      offset: { type: 'string', value: 'N', help: 'skip the newest N (default 0)' },
      limit: { type: 'string', value: 'N', help: 'at most N (default 50, at most 1000)' },
    },
    async run(ctx, { args, opts }) {
      const queue = args[0]!;
      const offset = intOption(opts, 'offset', 0);
      const limit = intOption(opts, 'limit', 50, 1, 1000);
      const { conveyor } = await ctx.open();
      const match = str(opts, 'match');
      const page = await conveyor.deadLetters.list(queue, { offset, limit, ...(match !== undefined ? { match } : {}) });
      ctx.out.result(page, () =>
        page.jobs.length === 0
          ? `no dead letters${match ? ` matching "${match}"` : ''} in ${queue} (total ${page.total})`
          : `${table(['ID', 'NAME', 'ATTEMPTS', 'DEAD SINCE', 'ERROR'], page.jobs.map((d) => [d.id, d.name, d.attemptsMade, d.deadAt, preview(d.failedReason, 60)]))}\n(${offset + 1}-${offset + page.jobs.length} of ${page.total})`,
      );
    },
  },
  actionSpec('replay'),
  actionSpec('drop'),
];
