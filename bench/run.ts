/**
 * npm run bench [-- options]: Conveyor beside plain BullMQ, measured in the
 * same run on freshly spawned Redis servers; prints a Markdown table with the
 * ratios and writes bench/results/<timestamp>.json.
 *
 *   --quick           a reduced version (1 run, small counts; under a minute)
 *   --runs N          runs per figure (default 3; the median is reported)
 *   --only a,b        only these groups: enqueue, processing, latency, memory, durable, cluster, flow, supervisor, sandbox, parts, batches
 *   --out FILE        write the JSON here instead of bench/results/<timestamp>.json
 *   --profile DIR     run Conveyor's server and workers with --cpu-prof, profiles into DIR
 *   --no-build        use dist/ as it is (the test suite built it; rebuilding would pull it from under tests running beside)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchContext } from './lib/context.ts';
import { loadAvg, machineInfo } from './lib/machine.ts';
import { toTable, type Report, type Row } from './lib/report.ts';
import { enqueue } from './scenarios/enqueue.ts';
import { processing } from './scenarios/processing.ts';
import { latency } from './scenarios/latency.ts';
import { memory } from './scenarios/memory.ts';
import { durable } from './scenarios/durable.ts';
import { cluster } from './scenarios/cluster.ts';
import { flow } from './scenarios/flow.ts';
import { supervisor } from './scenarios/supervisor.ts';
import { parts } from './scenarios/parts.ts';
import { batches } from './scenarios/batches.ts';
import { sandbox } from './scenarios/sandbox.ts';

const GROUPS: Record<string, (ctx: BenchContext) => Promise<Row[]>> = { enqueue, processing, latency, memory, durable, cluster, flow, supervisor, sandbox, parts, batches };

interface Args {
  quick: boolean;
  runs: number;
  only: string[];
  out: string | undefined;
  profile: string | undefined;
  build: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, runs: 3, only: [], out: undefined, profile: undefined, build: true };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') a.quick = true;
    else if (arg === '--runs') {
      a.runs = Number(value());
      runsGiven = true;
      if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error('--runs expects a whole number ≥ 1');
    } else if (arg === '--only') a.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (arg === '--out') a.out = resolve(value());
    else if (arg === '--profile') a.profile = resolve(value());
    else if (arg === '--no-build') a.build = false;
    else throw new Error(`unknown option ${arg} (see the header of bench/run.ts)`);
  }
  if (a.quick && !runsGiven) a.runs = 1;
  for (const g of a.only) if (!GROUPS[g]) throw new Error(`unknown group "${g}"; groups: ${Object.keys(GROUPS).join(', ')}`);
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Conveyor's processes run the compiled package (dist/), as in production: build it first.
  if (args.build) {
    const build = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'build.mjs')], { stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const started = new Date();
  const t0 = performance.now();
  const before = loadAvg();
  const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
  const quiet = before[0]! < 0.5;
  log(`load average before: ${before.join(' ')}${quiet ? '' : ' (not quiet: other work shares the CPUs; figures will be lower and noisier)'}`);

  const childArgs: string[] = [];
  if (args.profile) {
    mkdirSync(args.profile, { recursive: true });
    childArgs.push('--cpu-prof', `--cpu-prof-dir=${args.profile}`);
  }
  const ctx: BenchContext = { quick: args.quick, runs: args.runs, log, childArgs };
  const groups = args.only.length > 0 ? args.only : Object.keys(GROUPS);
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const g of groups) {
    log(`${g}...`);
    const t = performance.now();
    rows.push(...(await GROUPS[g]!(ctx)));
    log(`${g} done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const after = loadAvg();
  if (!quiet) notes.push(`The machine was not quiet (load average ${before.join(' ')} before the run): other work shared the CPUs.`);

  const report: Report = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    options: { quick: args.quick, runs: args.runs, only: args.only },
    machine: machineInfo(),
    load: { before, after, quiet },
    rows,
    notes,
  };
  const out = args.out ?? join(import.meta.dirname, 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  process.stdout.write(`\nConveyor vs BullMQ — ${args.quick ? 'quick, ' : ''}${args.runs} run(s), median (spread = half the min-max range)\n`);
  process.stdout.write(`${m.nproc} × ${m.cpuModel}, node ${m.node}, redis ${m.redis}; load ${before.join(' ')} before, ${after.join(' ')} after\n\n`);
  process.stdout.write(`${toTable(rows)}\n\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(`results: ${out}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
