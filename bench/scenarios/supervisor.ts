/**
 * The worker supervisor (`conveyor worker --processes N`, worker/supervisor.ts):
 *
 *   - throughput of one supervisor with 2 worker processes beside 2 worker
 *     processes started separately (the same compiled `conveyor worker`,
 *     CONCURRENCY 50 each; noop jobs waiting, the queue resumed and timed as
 *     in the processing group; the sides alternate), target ≥ 0.95×;
 *   - the supervisor's own CPU while its children idle (its IPC: one stats
 *     message per child per second), as % of one core, beside one idle
 *     worker process's own, target < 1 %.
 */
import { performance } from 'node:perf_hooks';
import { spawnConveyor, type ConveyorProcess } from '../../shared/testing/processes.ts';
import { reapOnExit } from '../../shared/testing/reaper.ts';
import { startRedis } from '../../shared/testing/redis-process.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { startFleet, stopFleet, type BenchWorker } from '../lib/fleet.ts';
import { benchQueueName, drained, fill, plainQueue } from '../lib/jobs.ts';
import { cpuSecondsFine } from '../lib/machine.ts';
import { makeRow, type Row } from '../lib/report.ts';

type SupSide = 'supervised' | 'separate';

interface Supervised {
  sup: ConveyorProcess;
  childPids: number[];
}

async function startSupervised(redisUrl: string, queue: string, processes: number, ctx: BenchContext): Promise<Supervised> {
  const sup = spawnConveyor('worker', { REDIS_URL: redisUrl, QUEUES: queue, CONCURRENCY: '50', WORKER_PROCESSES: String(processes), LOG_LEVEL: 'info' }, ctx.childArgs, { compiled: true });
  reapOnExit(sup.proc);
  const line = await sup.waitForLine('"supervisor started"', (j) => j.msg === 'supervisor started', 60_000);
  return { sup, childPids: line.pids as number[] };
}

export async function supervisor(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 20_000;
  const idleMs = ctx.quick ? 3000 : 10_000;
  const rates: Record<SupSide, number[]> = { supervised: [], separate: [] };
  const supCpu: number[] = [];
  const workerCpu: number[] = [];
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const admin = redis.client();
    const queues: Record<SupSide, string> = { supervised: benchQueueName('sup2'), separate: benchQueueName('sep2') };
    const qs = { supervised: plainQueue(admin, queues.supervised), separate: plainQueue(admin, queues.separate) };
    let supervised: Supervised | undefined;
    let separate: BenchWorker[] = [];
    try {
      for (const q of Object.values(qs)) await q.pause();
      supervised = await startSupervised(redis.url, queues.supervised, 2, ctx);
      separate = await startFleet('conveyor', 2, { redisUrl: redis.url, queues: [queues.separate], concurrency: 50, execArgv: ctx.childArgs });

      // Idle: the supervisor's CPU (and one child's, for scale) while nothing runs.
      const supPid = supervised.sup.proc.pid;
      const childPid = supervised.childPids[0];
      const [s0, c0] = [cpuSecondsFine(supPid), cpuSecondsFine(childPid)];
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, idleMs));
      const secs = (performance.now() - t0) / 1000;
      supCpu.push(((cpuSecondsFine(supPid) - s0) / secs) * 100);
      workerCpu.push(((cpuSecondsFine(childPid) - c0) / secs) * 100);

      // Warm-up, then the timed drains, sides alternating.
      for (const q of Object.values(qs)) {
        await fill(q, ctx.quick ? 200 : 2000);
        await q.resume();
        await drained(q, 60_000);
        await q.pause();
      }
      for (const side of sidesFor<SupSide>(run, 'supervised', 'separate')) {
        const q = qs[side];
        await fill(q, n);
        const t = performance.now();
        await q.resume();
        await drained(q, 300_000);
        rates[side].push(n / ((performance.now() - t) / 1000));
      }
      ctx.log(`supervisor run ${run + 1}: --processes 2 ${Math.round(rates.supervised.at(-1)!)}/s, 2 separate ${Math.round(rates.separate.at(-1)!)}/s; supervisor idle CPU ${supCpu.at(-1)!.toFixed(2)} % (a worker ${workerCpu.at(-1)!.toFixed(2)} %)`);
    } finally {
      await supervised?.sup.stop('SIGTERM', 60_000).catch(() => supervised?.sup.proc.kill('SIGKILL'));
      await stopFleet(separate);
      await Promise.all(Object.values(qs).map((q) => q.close()));
      await redis.stop();
    }
  }
  return [
    makeRow({
      group: 'supervisor',
      id: 'supervisor.processes-2',
      label: `processing, one supervisor with --processes 2, concurrency 50 each (${n.toLocaleString('en-US')} noop jobs waiting)`,
      unit: 'jobs/s',
      conveyor: rates.supervised,
      baseline: { label: '2 worker processes started separately', samples: rates.separate },
      target: { kind: 'ratio-min', value: 0.95 },
    }),
    makeRow({
      group: 'supervisor',
      id: 'supervisor.idle-cpu',
      label: 'the supervisor\'s own CPU while its 2 children idle (% of one core)',
      unit: '%',
      better: 'lower',
      digits: 2,
      conveyor: supCpu,
      baseline: { label: 'one idle worker process', samples: workerCpu },
      target: { kind: 'max', value: 1 },
    }),
  ];
}
