/** `conveyor dead list|replay|drop`: DeadLetters, one by id, all, or by error text, with --dry-run. */
import { ConveyorError } from '../shared/errors.ts';
import type { DeadLetters } from '../shared/queue/dead-letter.ts';
import { forEachDeadLetter, selectDeadLetters, type SelectedDeadLetter } from '../shared/queue/dead-letter-selection.ts';
import { intOption, str, type CommandInput, type CommandSpec } from './command.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';
import { plural, preview, table } from './output.ts';

const SELECT_OPTIONS = {
  all: { type: 'boolean', help: 'every dead letter of the queue' },
  match: { type: 'string', value: 'TEXT', help: 'only dead letters whose error contains TEXT (case-insensitive)' },
  'dry-run': { type: 'boolean', help: 'show what would be affected; change nothing' },
} as const;

/** Dry-run previews list this many ids at most (the count is always exact). */
const PREVIEW = 20;

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

  const { inspector } = await ctx.open();
  await inspector.requireQueue(queue);
  const dl = inspector.deadLetters;
  const act = (x: string) => (action === 'replay' ? dl.replay(queue, x) : dl.drop(queue, x));
  const verb = action === 'replay' ? 'replayed' : 'dropped';

  if (id !== undefined) {
    if (dryRun) {
      const d = await dl.get(queue, id);
      if (!d) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `no dead letter "${id}" in queue "${queue}"`, { queue, id });
      return report(ctx, { queue, action, dryRun, selected: 1, done: 0, preview: [{ id: d.id, name: d.name, failedReason: d.failedReason, deadAt: d.deadAt }] });
    }
    await act(id);
    return report(ctx, { queue, action, dryRun, selected: 1, done: 1, ids: [id] });
  }

  const progress = (what: string) => (done: number, total: number) => ctx.out.progress(`${what} ${done}/${total}`);
  if (all && !dryRun) {
    const total = await dl.count(queue);
    const run = action === 'replay' ? dl.replayAll.bind(dl) : dl.dropAll.bind(dl);
    const done = await run(queue, (n) => ctx.out.progress(`${verb} ${n}/${total}`));
    ctx.out.progress(`${verb} ${done}/${total}`, { final: true });
    return report(ctx, { queue, action, dryRun, selected: total, done });
  }
  if (all && dryRun) {
    const total = await dl.count(queue);
    const { selected } = await selectDeadLetters(dl, queue, { limit: PREVIEW });
    return report(ctx, { queue, action, dryRun, selected: total, done: 0, preview: selected });
  }
  const { selected } = await selectDeadLetters(dl, queue, { match, onProgress: progress('scanned') });
  if (dryRun) return report(ctx, { queue, action, dryRun, selected: selected.length, done: 0, preview: selected.slice(0, PREVIEW), ids: selected.map((s) => s.id) });
  const ids = selected.map((s) => s.id);
  const r = await forEachDeadLetter(ids, act, progress(verb));
  if (ids.length > 0) ctx.out.progress(`${verb} ${r.done + r.gone}/${ids.length}`, { final: true });
  return report(ctx, { queue, action, dryRun, selected: ids.length, done: r.done, gone: r.gone, ids });
}

interface Report {
  queue: string;
  action: Action;
  dryRun: boolean;
  /** How many dead letters the selection covers. */
  selected: number;
  /** How many were replayed or dropped. */
  done: number;
  /** Selected, but gone by the time the action reached them (someone else acted first). */
  gone?: number;
  ids?: string[];
  preview?: SelectedDeadLetter[];
}

function report(ctx: CliContext, r: Report): void {
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
      const { inspector } = await ctx.open();
      await inspector.requireQueue(queue);
      const dl: DeadLetters = inspector.deadLetters;
      const match = str(opts, 'match');
      const page = match === undefined ? await dl.list(queue, offset, limit) : await matchingPage(dl, queue, match, offset, limit);
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

/** A page of the dead letters whose error matches: full views, for the list command. */
async function matchingPage(dl: DeadLetters, queue: string, match: string, offset: number, limit: number) {
  const { selected } = await selectDeadLetters(dl, queue, { match });
  const ids = selected.slice(offset, offset + limit).map((s) => s.id);
  const jobs = (await Promise.all(ids.map((i) => dl.get(queue, i)))).filter((d) => d !== undefined);
  return { jobs, total: selected.length, offset, limit };
}
