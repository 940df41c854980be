/**
 * `conveyor start | server | worker | dashboard`: the platform's processes,
 * run from the caller's folder (so an app's `--jobs ./dist/jobs.js` and its
 * node_modules resolve from there). Each runs until SIGTERM/SIGINT and exits
 * by itself; the modules are loaded only when their command runs.
 */
import { str, type CommandSpec } from './command.ts';

/** Runs a process: it starts, then exits the process itself on SIGTERM/SIGINT. */
async function runProcess(run: () => Promise<unknown>, redis: string | undefined): Promise<never> {
  if (redis) process.env.REDIS_URL = redis;
  await run();
  return new Promise<never>(() => {});
}

const PROCESS_NOTE = 'Configuration comes from the environment (README "Configuration"); --redis URL overrides REDIS_URL. Runs until SIGTERM or Ctrl-C.';
const JOBS_OPTION = { jobs: { type: 'string', value: 'MODULE', help: 'a module of your job definitions (defineJob(…).handle(…)), e.g. ./dist/jobs.js, resolved from this folder' } } as const;

export const platformCommands: CommandSpec[] = [
  {
    path: ['start'],
    summary: 'the whole platform here: a local Redis (unless REDIS_URL is set), the job history, the API, a worker, the dashboard',
    details: `When REDIS_URL is unset it runs redis-server on 127.0.0.1:6380 with its data in ./.conveyor/redis.\nWhen HISTORY_URL is unset it keeps the job history in PGlite (PostgreSQL in WebAssembly, nothing to install), data in ./.conveyor/history,\nserved on 127.0.0.1:6381 (CONVEYOR_LOCAL_HISTORY_PORT); --no-history keeps none.\nCtrl-C stops the children (workers finish their running jobs), then the local Redis.\nWith --json every output line stays a JSON object (no prefixes, no colours); --jobs goes to the server and the worker.\n${PROCESS_NOTE}`,
    options: { ...JOBS_OPTION, 'no-history': { type: 'boolean', help: 'keep no job history (without HISTORY_URL, npm start keeps it in PGlite under .conveyor/history)' } },
    async run(ctx, { opts }) {
      const jobs = str(opts, 'jobs');
      const history = opts['no-history'] !== true;
      return runProcess(async () => (await import('./platform/start-all.ts')).startAll({ jobsModule: jobs, history }), ctx.redisOverride);
    },
  },
  {
    path: ['server'],
    summary: 'the HTTP API server (API_PORT, default 3000)',
    details: `--jobs: the payload schemas of your job definitions are checked on enqueue (422 PAYLOAD_INVALID) and listed in /v1/openapi.json.\n${PROCESS_NOTE}`,
    options: { ...JOBS_OPTION },
    async run(ctx, { opts }) {
      const jobsModule = str(opts, 'jobs');
      return runProcess(async () => (await import('../server/standalone.ts')).runServer({ jobsModule }), ctx.redisOverride);
    },
  },
  {
    path: ['worker'],
    summary: 'a worker process (or, with --processes N, a supervisor of N): runs the jobs of QUEUES with CONCURRENCY',
    details: `--jobs: your job definitions with handlers; without QUEUES the worker consumes their queues.\nThe built-in handlers (http, noop, sleep, fail) and HANDLERS run too.\n--processes N (WORKER_PROCESSES; "auto" = one per CPU): a supervisor forks N worker processes, forks a crashed one again\nafter a backoff (a crash loop exits 1), replaces one whose RSS passes WORKER_MAX_RSS_MB, restarts them one at a time\non SIGHUP (each finishing its jobs) and stops them all gracefully on SIGTERM. METRICS_PORT is then the supervisor's.\n${PROCESS_NOTE}`,
    options: { ...JOBS_OPTION, processes: { type: 'string', value: 'N', help: 'worker processes to run under one supervisor (1-256, or auto = one per CPU)' } },
    async run(ctx, { opts }) {
      const jobsModule = str(opts, 'jobs');
      const raw = str(opts, 'processes');
      // Checked before anything starts: a bad value exits 2 naming it.
      const processes = raw === undefined ? undefined : (await import('../shared/config/config.ts')).parseWorkerProcesses(raw, '--processes');
      return runProcess(async () => (await import('../worker/standalone.ts')).runWorker({ jobsModule, processes }), ctx.redisOverride);
    },
  },
  {
    path: ['dashboard'],
    summary: 'the web dashboard (DASHBOARD_PORT, default 3001)',
    details: PROCESS_NOTE,
    async run(ctx) {
      return runProcess(async () => (await import('../dashboard/standalone.ts')).runDashboard(), ctx.redisOverride);
    },
  },
];
