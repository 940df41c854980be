/**
 * npm run start:ha: the production-like topology of docker-compose.yml on this
 * machine, without Docker, to watch a failover happen.
 *
 *   1. A Redis primary + 2 replicas + 3 Sentinels (local-ha.ts): ports
 *      6390-6392 and 26390-26392 (CONVEYOR_HA_BASE_PORT moves both), data
 *      under .conveyor/ha (CONVEYOR_HOME). Sentinels already answering there
 *      are reused and left running.
 *   2. The API server, two workers and the dashboard, all on the Sentinel URL.
 *   3. The URLs, the topology, and how to fail over: `npm run failover`
 *      (SENTINEL FAILOVER) or kill -9 of the primary.
 *   4. Ctrl-C: the ordered stop of supervisor.ts, then the Sentinels, then the
 *      data nodes (SHUTDOWN writes the AOF).
 *
 *   npm run start:ha -- --json   keep every output line a JSON object
 */
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../shared/config/config.ts';
import { isConveyorError } from '../shared/errors.ts';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { sentinelView } from '../shared/redis/sentinel-admin.ts';
import { LocalRedisError } from '../cli/platform/local-redis.ts';
import { ensureLocalHa, haPorts, type LocalHa } from './local-ha.ts';
import { DASHBOARD, SERVER, Supervisor, WORKER, fatal, shownDir } from '../cli/platform/supervisor.ts';

const START_TIMEOUT_MS = 90_000;
const json = process.argv.includes('--json');

let config: Readonly<Config>;
try {
  config = loadConfig(process.env);
} catch (err) {
  fatal(isConveyorError(err) ? `${err.code}: ${err.message}` : String(err), 2, json);
}
const sup = new Supervisor({ json, shutdownGraceMs: config.shutdownGraceMs });

async function banner(ha: LocalHa): Promise<void> {
  const dash = sup.urlOf('dashboard');
  const view = await sentinelView(parseRedisUrl(ha.url)).catch(() => undefined);
  const pidOf = (address: string | undefined) => ha.dataNodes.find((n) => `127.0.0.1:${n.port}` === address)?.pid;
  const primaryPid = pidOf(view?.primary);
  const info = {
    api: sup.urlOf('server'),
    dashboard: `${dash}/`,
    board: `${dash}/queues`,
    redis: ha.url,
    primary: view?.primary,
    replicas: view?.replicas.map((r) => r.address),
    sentinels: haPorts(config.haBasePort).sentinels.map((p) => `127.0.0.1:${p}`),
    quorum: view?.quorum,
    data: shownDir(ha.dir),
  };
  if (json) {
    sup.say('info', 'ready', info);
    return;
  }
  const lines = [
    '',
    'Conveyor is running on a replicated Redis (primary + 2 replicas + 3 Sentinels):',
    `  API         ${info.api}`,
    `  Dashboard   ${info.dashboard}`,
    `  bull-board  ${info.board}`,
    `  REDIS_URL   ${info.redis}`,
    `  primary     ${info.primary ?? '?'}${primaryPid ? ` (pid ${primaryPid})` : ''}   replicas ${info.replicas?.join(', ') ?? '?'}   quorum ${info.quorum ?? '?'}`,
    `  data        ${info.data}${ha.started ? '' : ' (already running; not started by this command)'}`,
    '',
    'Watch a failover (in another terminal):',
    ...[
      ['npm run failover', 'SENTINEL FAILOVER: prints old → new primary and how long it took'],
      [`kill -9 ${primaryPid ?? '<pid of the primary>'}`, 'a crash: the Sentinels promote a replica after ~5 s'],
      [`curl -s ${info.api}/readyz`, '503 while no writable primary answers, then 200'],
    ].map(([cmd, what]) => `  ${cmd!.padEnd(44)} ${what}`),
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  if (config.redisUrlExplicit) sup.say('warn', 'REDIS_URL is ignored by start:ha: it runs its own Redis topology (use npm start for another Redis)');
  const dir = resolve(config.conveyorHome, 'ha');
  let ha: LocalHa;
  try {
    ha = await ensureLocalHa({ basePort: config.haBasePort, dir });
  } catch (err) {
    fatal(err instanceof LocalRedisError ? err.message : `could not start the Redis topology: ${String(err)}`, 1, json);
  }
  if (ha.started) {
    sup.say('info', 'Redis topology started', { redis: ha.url, data: shownDir(dir), nodes: [...ha.dataNodes, ...ha.sentinels].map((n) => `${n.name}:${n.port}`) });
    sup.onChildrenStopped(async () => {
      sup.say('info', 'stopping the Sentinels, then the data nodes (SHUTDOWN writes the AOF)');
      await ha.stop();
    });
    // A dead node is what this demo is for: say so, keep running (the Sentinels handle it).
    for (const n of [...ha.dataNodes, ...ha.sentinels]) {
      void n.exited.then((code) => {
        if (!sup.isStopping) sup.say('warn', `${n.name} (port ${n.port}) exited (${code}); ${n.name.startsWith('redis') ? 'the Sentinels promote a replica if it was the primary' : 'the other Sentinels keep the quorum'}. Restart everything with Ctrl-C and npm run start:ha.`);
      });
    }
  } else {
    sup.say('info', `Sentinels already answer on ${ha.url}: using them (they keep running after Ctrl-C)`, { redis: ha.url });
  }
  await sup.startChildren(
    [{ name: 'server', ...SERVER }, { name: 'worker-1', ...WORKER }, { name: 'worker-2', ...WORKER }, { name: 'dashboard', ...DASHBOARD }],
    { ...process.env, REDIS_URL: ha.url },
    START_TIMEOUT_MS,
  );
  await banner(ha);
}

await main();
