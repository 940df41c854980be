/** `conveyor queues`, `pause QUEUE`, `resume QUEUE`: the Inspector's queue views. */
import type { CommandSpec } from './command.ts';
import { table } from './output.ts';

export const queueCommands: CommandSpec[] = [
  {
    path: ['queues'],
    summary: 'every queue with its counts',
    details: 'Counts: waiting (includes prioritized), active, delayed, completed, failed, dead (dead letters).\nJSON: {"queues": [{"name", "paused", "counts": {...}}]} as GET /v1/queues.',
    async run(ctx) {
      const { inspector } = await ctx.open();
      const queues = await inspector.listQueues();
      ctx.out.result({ queues }, () =>
        queues.length === 0
          ? 'no queues yet'
          : table(
              ['QUEUE', 'STATE', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED', 'DEAD'],
              queues.map((q) => [q.name, q.paused ? 'paused' : 'running', q.counts.waiting, q.counts.active, q.counts.delayed, q.counts.completed, q.counts.failed, q.counts.dead]),
            ),
      );
    },
  },
  {
    path: ['pause'],
    args: 'QUEUE',
    minArgs: 1,
    summary: 'stop workers taking jobs from a queue (producers can still enqueue)',
    async run(ctx, { args }) {
      const queue = args[0]!;
      const { inspector } = await ctx.open();
      await inspector.pause(queue);
      ctx.out.result({ queue, paused: true }, `queue ${queue} paused`);
    },
  },
  {
    path: ['resume'],
    args: 'QUEUE',
    minArgs: 1,
    summary: 'let workers take jobs from a paused queue again',
    async run(ctx, { args }) {
      const queue = args[0]!;
      const { inspector } = await ctx.open();
      await inspector.resume(queue);
      ctx.out.result({ queue, paused: false }, `queue ${queue} resumed`);
    },
  },
];
