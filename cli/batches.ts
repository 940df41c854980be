/** `conveyor batches list|get|create|add|seal`: the batches of the library and the API. */
import { readFileSync } from 'node:fs';
import type { BatchView } from '../shared/batches/types.ts';
import { coreOf } from '../shared/conveyor.ts';
import { intOption, str, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
import { table } from './output.ts';

function describe(b: BatchView): string {
  const cbs = Object.entries(b.callbacks).map(([k, c]) => `${k} ${c.queue}/${c.name}: ${c.enqueuedAt ? `enqueued ${c.enqueuedAt}` : c.firedAt ? `fired ${c.firedAt}` : 'not fired'}`);
  const rows: [string, unknown][] = [
    ['id', b.id],
    ['description', b.description ?? undefined],
    ['state', `${b.state}${b.sealed ? '' : ' (open: jobs may be added)'}`],
    ['progress', `${Math.round(b.progress * 100)} % (${b.succeeded + b.dead} of ${b.total} finished)`],
    ['counts', `pending ${b.pending}, failed (retrying) ${b.failed}, succeeded ${b.succeeded}, dead ${b.dead}`],
    ['queues', b.queues.join(', ')],
    ['created', b.createdAt],
    ['completed', b.completedAt ?? undefined],
    ['succeeded', b.succeededAt ?? undefined],
    ['callbacks', cbs.join('\n') || '-'],
    ['parent', b.parent ?? undefined],
    ['nested', b.children.total > 0 ? `${b.children.total} (pending ${b.children.pending}, completed ${b.children.completed}, succeeded ${b.children.succeeded})` : undefined],
    ['dead jobs', b.failedJobs.map((f) => `${f.queue}/${f.id}: ${f.error.split('\n')[0]}`).join('\n') || undefined],
  ];
  return rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(13)}${String(v).replace(/\n/g, `\n${' '.repeat(13)}`)}`)
    .join('\n');
}

/** The JSON of --file (a path, or - for stdin). */
function readJson(file: string | undefined, command: string): unknown {
  if (file === undefined) throw new UsageError('--file is required (a JSON file, or - for stdin)', command);
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`--file ${file}: ${(err as Error).message}`, command);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--file ${file} is not valid JSON: ${(err as Error).message}`, command);
  }
}

const fileOption = { file: { type: 'string', value: 'FILE', help: 'the JSON to send (- for stdin)' } } as const;

export const batchCommands: CommandSpec[] = [
  {
    path: ['batches', 'list'],
    summary: 'batches, newest first, with their state and progress',
    options: { limit: { type: 'string', value: 'N', help: 'how many (default 20, at most 500)' } },
    async run(ctx, { opts }) {
      const { conveyor } = await ctx.open();
      const page = await coreOf(conveyor).batches.list(0, intOption(opts, 'limit', 20, 1, 500));
      ctx.out.result(page, () =>
        page.batches.length === 0
          ? 'no batches'
          : table(
              ['ID', 'STATE', 'PROGRESS', 'TOTAL', 'PENDING', 'FAILED', 'SUCCEEDED', 'DEAD', 'CREATED', 'DESCRIPTION'],
              page.batches.map((b) => [b.id, b.state, `${Math.round(b.progress * 100)}%`, b.total, b.pending, b.failed, b.succeeded, b.dead, b.createdAt, b.description ?? '']),
            ),
      );
    },
  },
  {
    path: ['batches', 'get'],
    args: 'ID',
    minArgs: 1,
    summary: 'one batch: counts, progress, callbacks, its dead jobs',
    async run(ctx, { args }) {
      const { conveyor } = await ctx.open();
      const b = await conveyor.batches.get(args[0]!);
      ctx.out.result(b, () => describe(b));
    },
  },
  {
    path: ['batches', 'create'],
    summary: 'create a batch from a JSON file (the body of POST /v1/batches)',
    details: [
      'The file holds { "jobs": [{ "queue", "name", "data", "opts" }, …], "onSuccess"?, "onComplete"?, "onDeath"?, "open"?, "description"? }.',
      'Everything is checked first; nothing is created when anything is invalid.',
      '',
      'Example: conveyor batches create --file import.json',
    ].join('\n'),
    options: fileOption,
    async run(ctx, { opts }) {
      const spec = readJson(str(opts, 'file'), 'conveyor batches create');
      const { conveyor } = await ctx.open();
      const created = await coreOf(conveyor).batches.create(spec);
      ctx.out.result(created, () => `created batch ${created.id}: ${created.total} jobs${created.sealed ? '' : ' (open: add more, then seal it)'}`);
    },
  },
  {
    path: ['batches', 'add'],
    args: 'ID',
    minArgs: 1,
    summary: 'add jobs to an open batch from a JSON file ({ "jobs": […] } or an array)',
    options: fileOption,
    async run(ctx, { args, opts }) {
      const raw = readJson(str(opts, 'file'), 'conveyor batches add');
      const jobs = Array.isArray(raw) ? raw : (raw as { jobs?: unknown } | null)?.jobs;
      const { conveyor } = await ctx.open();
      const added = await coreOf(conveyor).batches.add(args[0]!, jobs);
      ctx.out.result(added, () => `added ${added.ids.length} jobs to batch ${added.id} (total ${added.total})`);
    },
  },
  {
    path: ['batches', 'seal'],
    args: 'ID',
    minArgs: 1,
    summary: 'seal an open batch: no more jobs, its callbacks may fire',
    async run(ctx, { args }) {
      const { conveyor } = await ctx.open();
      const b = await conveyor.batches.seal(args[0]!);
      ctx.out.result(b, () => describe(b));
    },
  },
];
