/** `conveyor interop status|rejected list|rejected clear`: the Resque/Sidekiq bridge, seen from Redis. */
import { interopStatus } from '../shared/interop/interop-status.ts';
import { RejectedPayloads } from '../shared/interop/rejected.ts';
import { interopKeys } from '../shared/interop/interop-keys.ts';
import { intOption, type CommandSpec } from './command.ts';
import { plural, preview, table } from './output.ts';

export const interopCommands: CommandSpec[] = [
  {
    path: ['interop', 'status'],
    summary: 'bridges with their last heartbeat, Resque/Sidekiq sources waiting, rejected payloads',
    async run(ctx) {
      const { conn } = await ctx.open();
      const s = await interopStatus(conn);
      ctx.out.result(s, () =>
        [
          s.bridges.length === 0 ? 'no bridge running (set INTEROP on workers, or npm run bridge)' : table(['BRIDGE', 'LAST HEARTBEAT', 'IN FLIGHT'], s.bridges.map((b) => [b.id, b.lastBeatAt, b.inFlight])),
          '',
          table(['SOURCE', 'WAITING'], s.sources.map((x) => [x.key, x.waiting])),
          '',
          `rejected payloads: ${s.rejected}${s.rejected ? ` (conveyor interop rejected list; key ${interopKeys.rejected})` : ''}`,
        ].join('\n'),
      );
    },
  },
  {
    path: ['interop', 'rejected', 'list'],
    summary: 'payloads the bridge could not turn into jobs, newest first, with the reason',
    options: {
      offset: { type: 'string', value: 'N', help: 'skip the newest N (default 0)' },
      limit: { type: 'string', value: 'N', help: 'at most N (default 50, at most 1000)' },
    },
    async run(ctx, { opts }) {
      const offset = intOption(opts, 'offset', 0);
      const limit = intOption(opts, 'limit', 50, 1, 1000);
      const { conn } = await ctx.open();
      const page = await new RejectedPayloads(conn).list(offset, limit);
      ctx.out.result(page, () =>
        page.rejected.length === 0
          ? 'no rejected payloads'
          : `${table(['AT', 'SOURCE', 'REASON', 'PAYLOAD'], page.rejected.map((r) => [r.at, r.source, preview(r.reason, 50), preview(r.payload, 50)]))}\n(${offset + 1}-${offset + page.rejected.length} of ${page.total})`,
      );
    },
  },
  {
    path: ['interop', 'rejected', 'clear'],
    summary: 'delete every rejected payload (after you have looked at them)',
    async run(ctx) {
      const { conn } = await ctx.open();
      const n = await new RejectedPayloads(conn).clear();
      ctx.out.result({ cleared: n }, `cleared ${plural(n, 'rejected payload')}`);
    },
  },
];
