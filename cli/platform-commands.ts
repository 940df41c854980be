/**
 * `conveyor start | server | worker | dashboard`: the platform's processes,
 * run from the caller's folder (so an app's `--jobs ./dist/jobs.js` and its
 * node_modules resolve from there). Each runs until SIGTERM/SIGINT and exits
 * by itself; the modules are loaded only when their command runs.
 */
import type { CommandSpec } from './command.ts';

/** Runs a process module: it starts on import and exits the process itself. */
async function runProcess(load: () => Promise<unknown>, redis: string | undefined): Promise<never> {
  if (redis) process.env.REDIS_URL = redis;
  await load();
  return new Promise<never>(() => {});
}

const PROCESS_NOTE = 'Configuration comes from the environment (README "Configuration"); --redis URL overrides REDIS_URL. Runs until SIGTERM or Ctrl-C.';

export const platformCommands: CommandSpec[] = [
  {
    path: ['start'],
    summary: 'the whole platform on this machine: a local Redis (unless REDIS_URL is set), the API, one worker and the dashboard',
    details: `When REDIS_URL is unset it runs redis-server on 127.0.0.1:6380 with its data in ./.conveyor/redis.\nCtrl-C stops the children (workers finish their running jobs), then the local Redis.\nWith --json every output line stays a JSON object (no prefixes, no colours).\n${PROCESS_NOTE}`,
    async run(ctx) {
      return runProcess(() => import('./platform/start-all.ts'), ctx.redisOverride);
    },
  },
  {
    path: ['server'],
    summary: 'the HTTP API server (API_PORT, default 3000)',
    details: PROCESS_NOTE,
    async run(ctx) {
      return runProcess(() => import('../server/main.ts'), ctx.redisOverride);
    },
  },
  {
    path: ['worker'],
    summary: 'a worker process: runs the jobs of QUEUES with CONCURRENCY',
    details: PROCESS_NOTE,
    async run(ctx) {
      return runProcess(() => import('../worker/main.ts'), ctx.redisOverride);
    },
  },
  {
    path: ['dashboard'],
    summary: 'the web dashboard (DASHBOARD_PORT, default 3001)',
    details: PROCESS_NOTE,
    async run(ctx) {
      return runProcess(() => import('../dashboard/main.ts'), ctx.redisOverride);
    },
  },
];
