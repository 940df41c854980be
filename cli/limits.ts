/** `conveyor limits QUEUE [--set JSON | --clear]`: a queue's flow limits, as PUT /v1/queues/:queue/limits sets them. */
import type { LimitsStatus } from '../shared/conveyor.ts';
import { jsonOption, type CommandSpec } from './command.ts';
import { UsageError } from './exit-codes.ts';
import { table } from './output.ts';

function describe(s: LimitsStatus): string {
  const l = s.limits;
  const rate = (r: { max: number; perMs: number } | undefined) => (r ? `${r.max} per ${r.perMs} ms` : '-');
  const lines = [
    `queue:        ${s.queue}`,
    `managed by:   ${s.managedBy ?? '-'}`,
    `concurrency:  ${l.concurrency ?? '-'} (whole queue, every worker)`,
    `rate:         ${rate(l.rate)}`,
    `per key:      ${l.perKey ? `concurrency ${l.perKey.concurrency ?? '-'}, rate ${rate(l.perKey.rate)}, ${Object.keys(l.perKey.overrides ?? {}).length} overrides` : '-'}`,
    `held:         ${s.held} jobs held back by the per-key gate; ${s.admitted} hold a key's slot`,
    `limit hits:   key-concurrency ${s.hits['key-concurrency']}, key-rate ${s.hits['key-rate']}`,
  ];
  if (s.keys.length > 0) {
    lines.push('', 'largest backlogs:', table(['KEY', 'HELD', 'RUNNING', 'WAITING ON'], s.keys.map((k) => [k.key, k.held, k.running, k.waitingOn])));
  }
  return lines.join('\n');
}

export const limitsCommands: CommandSpec[] = [
  {
    path: ['limits'],
    args: 'QUEUE',
    minArgs: 1,
    summary: "a queue's flow limits and what they hold back; --set or --clear to change them",
    details: [
      'Limits hold fleet-wide, across every worker process; running workers apply a change within 1 s.',
      '  concurrency, rate {max, perMs}: the whole queue.',
      '  perKey {concurrency, rate, overrides}: each opts.key (a tenant, a customer); keys are served round-robin.',
      'Limits from the LIMITS file cannot be changed here (change the file).',
      '',
      `Example: conveyor limits emails --set '{"rate":{"max":10,"perMs":1000},"perKey":{"concurrency":2}}'`,
      'JSON: as GET /v1/queues/:queue/limits.',
    ].join('\n'),
    options: {
      set: { type: 'string', value: 'JSON', help: 'replace the limits (absent fields: no limit)' },
      clear: { type: 'boolean', help: 'remove every limit' },
    },
    async run(ctx, { args, opts }) {
      const queue = args[0]!;
      const set = jsonOption(opts, 'set');
      if (set !== undefined && opts.clear) throw new UsageError('give --set or --clear, not both', 'conveyor limits');
      const { conveyor, inspector } = await ctx.open();
      let status: LimitsStatus;
      if (set !== undefined) status = await conveyor.queues.setLimits(queue, set as never);
      else if (opts.clear) {
        await inspector.requireQueue(queue);
        status = await conveyor.queues.clearLimits(queue);
      } else {
        await inspector.requireQueue(queue);
        status = await conveyor.queues.limits(queue);
      }
      ctx.out.result(status, () => describe(status));
    },
  },
];
