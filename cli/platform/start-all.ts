/**
 * `conveyor start` (npm start here): the whole platform on this machine.
 *
 *   1. REDIS_URL unset → a local redis-server on 127.0.0.1:6380, data (AOF) in
 *      .conveyor/redis (CONVEYOR_LOCAL_REDIS_PORT / CONVEYOR_HOME override both;
 *      tests use them). A Redis already answering there is reused.
 *   2. HISTORY_URL unset → the job history in PGlite (local-history.ts), data in
 *      .conveyor/history, served on 127.0.0.1:6381 (CONVEYOR_LOCAL_HISTORY_PORT);
 *      --no-history keeps none.
 *   3. The API server, one worker and the dashboard as child processes with the
 *      same environment plus REDIS_URL (and HISTORY_URL); their log lines prefixed with their name.
 *   4. Once all three are up, the URLs.
 *   5. Ctrl-C / SIGTERM: the ordered stop of supervisor.ts, then SHUTDOWN of the
 *      local Redis and the close of the local history, exit 0. A child that dies
 *      on its own stops everything.
 *
 *   npm start -- --json   keep every output line a JSON object
 *   npm start -- --no-history   no job history (unless HISTORY_URL is set)
 *   conveyor start --jobs ./dist/jobs.js   the server and the worker get the app's jobs
 */
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../../shared/config/config.ts';
import { isConveyorError } from '../../shared/errors.ts';
import { LocalHistoryError, startLocalHistory, type LocalHistory } from './local-history.ts';
import { ensureLocalRedis, LocalRedisError, type LocalRedis } from './local-redis.ts';
import { DASHBOARD, SERVER, Supervisor, WORKER, fatal, shownDir } from './supervisor.ts';

/** How long the children may take to come up (tsx compiles on first start from the sources). */
const START_TIMEOUT_MS = 90_000;

function banner(sup: Supervisor, json: boolean, redisLine: string, historyLine: string): void {
  const dash = sup.urlOf('dashboard');
  const urls = { api: sup.urlOf('server'), dashboard: `${dash}/`, board: `${dash}/queues`, redis: redisLine, history: historyLine };
  if (json) {
    sup.say('info', 'ready', urls);
    return;
  }
  const lines = [
    '',
    'Conveyor is running:',
    `  API         ${urls.api}`,
    `  Dashboard   ${urls.dashboard}`,
    `  bull-board  ${urls.board}`,
    `  Redis       ${urls.redis}`,
    `  History     ${urls.history}`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function startAll({ jobsModule, history = true }: { jobsModule?: string | undefined; history?: boolean } = {}): Promise<void> {
  const json = process.argv.includes('--json');
  let config: Readonly<Config>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    fatal(isConveyorError(err) ? `${err.code}: ${err.message}` : String(err), 2, json);
  }
  const sup = new Supervisor({ json, shutdownGraceMs: config.shutdownGraceMs });
  const jobs = jobsModule ? ['--jobs', jobsModule] : [];
  let redisUrl = process.env.REDIS_URL?.trim();
  let redisLine = config.redis.redacted;
  if (!config.redisUrlExplicit) {
    const dir = resolve(config.conveyorHome, 'redis');
    let redis: LocalRedis;
    try {
      redis = await ensureLocalRedis({ port: config.localRedisPort, dir });
    } catch (err) {
      fatal(err instanceof LocalRedisError ? err.message : `could not start the local Redis: ${String(err)}`, 1, json);
    }
    redisUrl = redis.url;
    if (redis.started) {
      sup.say('info', 'local Redis started', { redis: redis.url, data: shownDir(dir), appendonly: 'yes', maxmemoryPolicy: 'noeviction' });
      redisLine = `${redis.url} (local, data in ${shownDir(dir)})`;
      sup.onChildrenStopped(async () => {
        sup.say('info', 'stopping Redis (SHUTDOWN writes the AOF)', { redis: redis.url });
        await redis.stop();
      });
      void redis.exited.then((code) => {
        if (!sup.isStopping) void sup.stopAll(`the local Redis exited unexpectedly (${code})`, 1);
      });
    } else {
      sup.say('info', `a Redis already answers on ${redis.url}: using it (it keeps running after Ctrl-C)`, { redis: redis.url });
      redisLine = `${redis.url} (already running; not started by npm start)`;
    }
  }
  let historyUrl = process.env.HISTORY_URL?.trim() || undefined;
  let historyLine = config.history ? 'HISTORY_URL (PostgreSQL)' : 'off (--no-history)';
  if (!config.history && history) {
    const dir = resolve(config.conveyorHome, 'history');
    let local: LocalHistory;
    try {
      local = await startLocalHistory({ dir, port: config.localHistoryPort });
    } catch (err) {
      // Stops the local Redis (if this run started it), then exits 1.
      return void (await sup.stopAll(err instanceof LocalHistoryError ? err.message : `could not start the local history: ${String(err)}`, 1));
    }
    historyUrl = local.url;
    historyLine = `${local.url} (local PGlite, data in ${shownDir(dir)})`;
    sup.say('info', 'local history started', { history: local.url, data: shownDir(dir) });
    sup.onChildrenStopped(async () => {
      sup.say('info', 'closing the local history', { history: local.url });
      await local.stop();
    });
  }
  await sup.startChildren(
    [
      { name: 'server', ...SERVER, args: [...SERVER.args, ...jobs] },
      { name: 'worker', ...WORKER, args: [...WORKER.args, ...jobs] },
      { name: 'dashboard', ...DASHBOARD },
    ],
    { ...process.env, REDIS_URL: redisUrl, ...(historyUrl ? { HISTORY_URL: historyUrl } : {}) },
    START_TIMEOUT_MS,
  );
  banner(sup, json, redisLine, historyLine);
}
