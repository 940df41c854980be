/**
 * `conveyor workers` (the fleet, from the heartbeats of shared/queue/fleet.ts)
 * and `conveyor workers quiet|stop ID|--all` (Fleet.command: a command key
 * per worker plus one message on the control channel).
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerBeat, WorkerCommandName } from '../shared/queue/fleet.ts';
import { intOption, type CommandSpec } from './command.ts';
import { NotFoundError, UsageError, EXIT } from './exit-codes.ts';
import { plural, table } from './output.ts';

const ago = (ms: number) => (ms < 1000 ? 'now' : `${Math.round(ms / 1000)}s ago`);
const mb = (b: number) => `${Math.round(b / 1048576)} MB`;

function command(name: WorkerCommandName): CommandSpec {
  const doing = name === 'quiet' ? 'take no new jobs (running ones finish; the process stays)' : 'shut down gracefully, as on SIGTERM';
  return {
    path: ['workers', name],
    args: 'ID',
    minArgs: 0,
    maxArgs: 1,
    summary: `tell a worker process, or all with --all, to ${name}`,
    details: [
      `The worker(s) ${doing}. Workers obey at once (pub/sub) or at their next heartbeat.`,
      `--wait waits until ${name === 'quiet' ? 'they report quiet' : 'they have left the fleet'} (progress on stderr); exit 1 if they have not within --timeout.`,
    ].join('\n'),
    options: {
      all: { type: 'boolean', help: 'every live worker' },
      wait: { type: 'boolean', help: `wait until the command took effect` },
      timeout: { type: 'string', value: 'SECONDS', help: 'how long --wait waits (default 60)' },
    },
    async run(ctx, { args, opts }) {
      const id = args[0];
      const all = opts.all === true;
      if ((id === undefined) === !all) throw new UsageError('give a worker ID or --all');
      const timeoutMs = intOption(opts, 'timeout', 60, 1, 24 * 3600) * 1000;
      const { fleet } = await ctx.open();
      const targets = await fleet.command(name, all ? 'all' : id!, `cli@${hostname()}`);
      if (targets.length === 0 && !all) throw new NotFoundError(`no live worker with id "${id}" (see 'conveyor workers')`);
      let pending: string[] = [];
      if (opts.wait === true && targets.length > 0) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const live = new Map((await fleet.list()).map((w) => [w.id, w]));
          pending = targets.filter((t) => (name === 'stop' ? live.has(t) : live.get(t)?.state === 'running'));
          ctx.out.progress(`${name}: ${targets.length - pending.length}/${targets.length} done`);
          if (pending.length === 0 || Date.now() > deadline) break;
          await sleep(250);
        }
        ctx.out.progress(`${name}: ${targets.length - pending.length}/${targets.length} done`, { final: true });
      }
      ctx.out.result({ command: name, targets, ...(opts.wait === true ? { pending } : {}) }, () =>
        targets.length === 0 ? 'no live workers' : `sent ${name} to ${plural(targets.length, 'worker')}${pending.length ? `; ${pending.length} not yet ${name === 'stop' ? 'gone' : 'quiet'}: ${pending.join(', ')}` : ''}`,
      );
      return pending.length > 0 ? EXIT.FAILURE : EXIT.OK;
    },
  };
}

/** "pid 4242 #2/3, 1 crash": the supervisor, this process's slot, the supervisor's restarts by cause. */
function supervisorText(w: WorkerBeat): string {
  const s = w.supervisor;
  if (!s) return '-';
  const restarts = Object.entries(s.restarts).filter(([, n]) => n > 0).map(([cause, n]) => `${n} ${cause}`);
  return `pid ${s.pid} #${s.slot}/${s.processes}${restarts.length ? `, ${restarts.join(' ')}` : ''}`;
}

export const workerCommands: CommandSpec[] = [
  {
    path: ['workers'],
    summary: 'the fleet: every live worker process with its queues, load and last heartbeat',
    details: 'A worker that stopped heartbeating drops out once its heartbeat key expires.\nSUPERVISOR: for a process of conveyor worker --processes N, the pid of its supervisor, its slot and the restarts of that supervisor by cause.\nJSON: {"workers": [WorkerBeat...]} with the fields of shared/queue/fleet.ts.',
    async run(ctx) {
      const { conveyor } = await ctx.open();
      const workers: WorkerBeat[] = await conveyor.fleet.list();
      const now = Date.now();
      ctx.out.result({ workers }, () =>
        workers.length === 0
          ? 'no live workers'
          : table(
              ['ID', 'STATE', 'QUEUES', 'BUSY', 'PROCESSED', 'FAILED', 'RSS', 'LAG', 'BEAT', 'UP SINCE', 'SUPERVISOR'],
              workers.map((w) => [w.id, w.state, w.queues.join(','), `${w.busy}/${w.concurrency}`, w.processed, w.failed, mb(w.rssBytes), `${Math.round(w.lagMs)} ms`, ago(now - w.beatAt), new Date(w.startedAt).toISOString(), supervisorText(w)]),
            ),
      );
    },
  },
  command('quiet'),
  command('stop'),
];
