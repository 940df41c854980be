/** `conveyor migrate --from URL --to URL`: shared/migrate/migration.ts, with progress and a final report. */
import { isValidQueueName } from '../shared/queue/names.ts';
import type { MigrationReport } from '../shared/migrate/migration.ts';
import { str, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
import { table } from './output.ts';

function describe(r: MigrationReport): string {
  const lines = [`${r.dryRun ? 'dry run: would migrate' : 'migrated'} ${r.from} -> ${r.to} in ${(r.durationMs / 1000).toFixed(1)} s`];
  if (r.queues.length > 0) {
    lines.push(
      table(
        ['QUEUE', 'WAITING', 'PRIORITIZED', 'DELAYED', 'DEAD', 'ALREADY THERE', 'RESUMED', 'SKIPPED', 'LEFT ACTIVE', ...(r.withHistory ? ['HISTORY'] : [])],
        r.queues.map((q) => [
          q.queue + (q.paused ? ' (paused)' : ''),
          q.moved.waiting,
          q.moved.prioritized,
          q.moved.delayed,
          q.moved.dead,
          q.alreadyThere,
          q.resumed,
          q.skipped.reduce((n, s) => n + s.count, 0),
          q.leftActive,
          ...(r.withHistory ? [q.history ? q.history.completed + q.history.failed : 0] : []),
        ]),
      ),
    );
  } else lines.push('no queues on the old side');
  const s = r.schedules;
  lines.push(r.dryRun ? `schedules: would move ${s.wouldMove?.length ?? 0}${s.wouldMove?.length ? ` (${s.wouldMove.join(', ')})` : ''}` : `schedules: moved ${s.moved.length}${s.moved.length ? ` (${s.moved.join(', ')})` : ''}; already on the new side ${s.alreadyThere.length}; finished from an interrupted run ${s.finished.length}`);
  for (const q of r.queues) for (const k of q.skipped) lines.push(`skipped in ${q.queue}: ${k.count} - ${k.reason}${k.ids.length ? ` (${k.ids.join(', ')}${k.count > k.ids.length ? ', ...' : ''})` : ''}`);
  if (r.totals.leftActive > 0) lines.push(`${r.totals.leftActive} active jobs finish on the old side: keep a worker with DRAIN_REDIS_URLS=${r.from} until it is empty.`);
  lines.push(`total: ${r.totals.moved} moved, ${r.totals.alreadyThere} already there, ${r.totals.skipped} skipped`);
  return lines.join('\n');
}

export const migrateCommands: CommandSpec[] = [
  {
    path: ['migrate'],
    summary: 'move jobs, dead letters and schedules from one Redis deployment to another, live',
    details: [
      'Moves waiting, prioritized and delayed jobs (same ids, names, data, options, remaining attempts',
      'and due times), dead letters and schedules from --from to --to, while both keep running.',
      'Each queue is paused on the old side while its jobs move, then resumed. Active jobs finish on',
      'the old side: run workers with DRAIN_REDIS_URLS=<old> so they drain it. Idempotent and',
      'resumable: run it again after an interruption, nothing is added twice.',
      '',
      'Example: conveyor migrate --from redis://old:6379 --to rediss://new.example.com:6380 --dry-run',
    ].join('\n'),
    options: {
      from: { type: 'string', value: 'URL', help: 'the old deployment (any REDIS_URL form; required)' },
      to: { type: 'string', value: 'URL', help: 'the new deployment (required)' },
      queues: { type: 'string', value: 'A,B', help: 'only these queues (and their schedules); default all' },
      'dry-run': { type: 'boolean', help: 'count what would move; write nothing' },
      'with-history': { type: 'boolean', help: 'also copy completed and failed jobs' },
    },
    async run(ctx, { opts }) {
      const fromUrl = str(opts, 'from');
      const toUrl = str(opts, 'to');
      if (!fromUrl || !toUrl) throw new UsageError('--from URL and --to URL are both required');
      const queues = str(opts, 'queues')?.split(',').map((q) => q.trim()).filter(Boolean);
      for (const q of queues ?? []) if (!isValidQueueName(q)) throw new UsageError(`--queues: "${q}" is not a valid queue name`);
      const [fromConfig, toConfig] = [ctx.configFor(fromUrl), ctx.configFor(toUrl)];
      const [from, to] = await Promise.all([ctx.openCore(fromConfig), ctx.openCore(toConfig)]);
      const { migrate } = await import('../shared/migrate/migration.ts');
      const report = await migrate(
        { label: fromConfig.redis.redacted, ...from },
        { label: toConfig.redis.redacted, ...to },
        { queues, dryRun: opts['dry-run'] === true, withHistory: opts['with-history'] === true, onProgress: (t) => ctx.out.progress(t) },
      );
      ctx.out.result(report, () => describe(report));
    },
  },
];
