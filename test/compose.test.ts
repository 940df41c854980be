/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine: the
 * services exist; every Conveyor process's environment passes loadConfig;
 * ports, healthchecks and published ports agree with API_PORT /
 * DASHBOARD_PORT; the Sentinel URL names the Sentinel services, the master
 * name of their monitor line and the data nodes' password; the replicas follow
 * the monitored primary; every data node is durable (AOF, noeviction, volume)
 * and every node announces its service name (container IPs change).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../shared/config/config.ts';
import { parseRedisUrl } from '../shared/config/redis-url.ts';

const ROOT = join(import.meta.dirname, '..');

interface Service {
  image?: string;
  build?: string | { context: string };
  entrypoint?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  deploy?: { replicas?: number };
}

const COMPOSE_TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
// Compose resolves YAML merge keys (<<), as yaml does with { merge: true }.
const compose = parse(COMPOSE_TEXT, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;

/** Values for the variables the file requires (${VAR:?...}); everything else takes its default. */
const REQUIRED_FOR_TEST: Record<string, string> = {
  REDIS_PASSWORD: 'compose-test-redis-password',
  API_TOKENS: 'ci:token-for-compose-test:enqueue+read+admin',
  DASHBOARD_USER: 'admin',
  DASHBOARD_PASSWORD: 'a-password-for-the-test',
};

/** Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} interpolation, with an empty shell environment; $$ is a literal $. */
function interpolate(value: string, vars: Record<string, string> = REQUIRED_FOR_TEST): string {
  return value
    .split('$$')
    .map((part) =>
      part.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
        const v = vars[name];
        if (op?.endsWith('-')) return v ?? arg ?? '';
        if (op?.endsWith('?')) {
          if (v === undefined) throw new Error(`compose would refuse to start: ${name} is required (${arg})`);
          return v;
        }
        return v ?? '';
      }),
    )
    .join('$');
}

function envOf(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(services[name]?.environment ?? {})) env[k] = interpolate(String(v));
  return env;
}

const list = (v: string[] | string | undefined): string[] => (Array.isArray(v) ? v : (v ?? '').split(/\s+/).filter(Boolean));
/** What the container runs: entrypoint then command, interpolated. */
const argvOf = (s: Service): string[] => [...list(s.entrypoint), ...list(s.command)].map((a) => interpolate(a));
const commandOf = (s: Service): string[] => list(s.command);

const conveyorServices = Object.entries(services).filter(([, s]) => commandOf(s)[1] === 'bin/conveyor.js');
const sentinelServices = Object.entries(services).filter(([, s]) => argvOf(s).join(' ').includes('--sentinel'));
const dataServices = Object.entries(services).filter(([, s]) => /^redis:/.test(s.image ?? '') && !argvOf(s).join(' ').includes('--sentinel'));

/** The value after a --flag in an argv. */
function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

/**
 * The sentinel.conf a Sentinel service writes on first start: the heredoc of
 * its sh -c script, with the shell's $VARS expanded from its environment.
 */
function sentinelConf(name: string): string[] {
  const script = argvOf(services[name]!).find((a) => a.includes('<<EOF')) ?? '';
  const m = /<<EOF\n([\s\S]*?)\nEOF/.exec(script);
  assert.ok(m, `${name} writes sentinel.conf from a heredoc`);
  const env = envOf(name);
  return m[1]!.split('\n').map((l) => l.replace(/\$([A-Z_]+)/g, (_x, v: string) => env[v] ?? `<unset ${v}>`).trim()).filter(Boolean);
}

const dependsOn = (s: Service): Record<string, { condition: string }> =>
  Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, { condition: 'service_started' }])) : (s.depends_on ?? {});

function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => Number(interpolate(p).split(':').pop()));
}

function healthcheckPort(s: Service): number | undefined {
  const m = (s.healthcheck?.test ?? []).join(' ').match(/http:\/\/127\.0\.0\.1:(\d+)\/healthz/);
  return m ? Number(m[1]) : undefined;
}

test('the services exist: 3 Redis data nodes, 3 Sentinels, server, worker (2 replicas), dashboard', () => {
  assert.deepEqual(dataServices.map(([n]) => n).sort(), ['redis-1', 'redis-2', 'redis-3']);
  assert.deepEqual(sentinelServices.map(([n]) => n).sort(), ['sentinel-1', 'sentinel-2', 'sentinel-3']);
  for (const name of ['server', 'worker', 'dashboard']) assert.ok(services[name], `service ${name}`);
  assert.equal(services.worker!.deploy?.replicas, 2, 'two worker processes');
});

test('server, worker and dashboard run `node bin/conveyor.js <process>` (compiled, no TypeScript loader) from the one image built by the Dockerfile', () => {
  assert.deepEqual(conveyorServices.map(([n]) => n).sort(), ['dashboard', 'server', 'worker']);
  for (const [name, s] of conveyorServices) {
    assert.deepEqual(commandOf(s), ['node', 'bin/conveyor.js', name], `${name} runs its CLI command on plain node`);
    const context = typeof s.build === 'string' ? s.build : s.build?.context;
    assert.equal(context, '.', `${name} is built from the repository root`);
  }
  assert.ok(existsSync(join(ROOT, 'bin', 'conveyor.js')));
  const images = new Set(conveyorServices.map(([, s]) => s.image));
  assert.equal(images.size, 1, 'one image for all three');
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2, 'a build stage and a run stage');
  for (const stage of stages) assert.match(stage, /^node:24-slim\b/, 'both stages on Node 24 LTS');
  assert.match(stages[0]!, /^RUN npm run build$/m, 'the build stage compiles dist/');
  const run = stages[1]!;
  assert.match(run, /^RUN npm ci --omit=dev\b/m, 'the run stage has production dependencies only');
  assert.match(run, /^COPY --from=build \/app\/dist \.\/dist$/m);
  assert.match(run, /^USER node$/m, 'it runs as a non-root user');
  assert.match(run, /^CMD \["node", "bin\/conveyor\.js", "server"\]$/m);
  assert.doesNotMatch(run, /tsx/, 'no TypeScript loader at run time');
  // The Dockerfile's COPY . . must not take a local build or the Node binaries along.
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const p of ['node_modules', 'dist', '.cache']) assert.ok(ignored.includes(p), `.dockerignore lists ${p}`);
});

test('every process environment passes loadConfig, and ports, healthchecks and published ports agree with it', () => {
  for (const [name] of conveyorServices) assert.doesNotThrow(() => loadConfig(envOf(name)), `${name}'s environment is valid`);

  const api = loadConfig(envOf('server'));
  assert.deepEqual(containerPorts(services.server!), [api.apiPort]);
  assert.equal(healthcheckPort(services.server!), api.apiPort);

  const dash = loadConfig(envOf('dashboard'));
  assert.deepEqual(containerPorts(services.dashboard!), [dash.dashboardPort]);
  assert.equal(healthcheckPort(services.dashboard!), dash.dashboardPort);

  // Published ports are only reachable when the process listens on every
  // interface, which it does only with authentication configured.
  assert.ok(api.apiTokens.length > 0, 'the server gets API_TOKENS');
  assert.ok(dash.dashboardUser && dash.dashboardPassword, 'the dashboard gets a user and password');
  assert.throws(() => interpolate(String(services.server!.environment!.API_TOKENS), {}), /API_TOKENS is required/);
  assert.throws(() => interpolate(String(services.dashboard!.environment!.DASHBOARD_PASSWORD), {}), /DASHBOARD_PASSWORD is required/);
  assert.throws(() => interpolate(String(services.server!.environment!.REDIS_URL), {}), /REDIS_PASSWORD is required/);
  assert.throws(() => list(services['redis-1']!.entrypoint).map((a) => interpolate(a, {})), /REDIS_PASSWORD is required/);

  const worker = loadConfig(envOf('worker'));
  const grace = Number(/^(\d+)s$/.exec(services.worker!.stop_grace_period ?? '')?.[1] ?? 10) * 1000;
  assert.ok(grace > worker.shutdownGraceMs, `stop_grace_period (${grace} ms) outlasts SHUTDOWN_GRACE_MS (${worker.shutdownGraceMs} ms)`);
  // Redis itself is reachable only inside the compose network.
  for (const [name, s] of [...dataServices, ...sentinelServices]) assert.deepEqual(s.ports ?? [], [], `${name} publishes no port`);
});

test('every REDIS_URL is the Sentinel URL: its hosts are the Sentinel services on their port, its master the one they monitor, its password the data nodes\'', () => {
  for (const [name, s] of conveyorServices) {
    const target = parseRedisUrl(envOf(name).REDIS_URL ?? '');
    assert.equal(target.kind, 'sentinel', `${name} reaches Redis through the Sentinels`);
    if (target.kind !== 'sentinel') continue;
    assert.deepEqual(target.sentinels.map((h) => h.host).sort(), sentinelServices.map(([n]) => n).sort(), `${name}: every Sentinel, and only Sentinels`);
    for (const h of target.sentinels) {
      const conf = sentinelConf(h.host);
      assert.ok(conf.includes(`port ${h.port}`), `${h.host} listens on ${h.port}`);
      const monitor = conf.find((l) => l.startsWith('sentinel monitor '))!.split(' ');
      assert.equal(monitor[2], target.masterName, `${h.host} monitors "${target.masterName}"`);
    }
    assert.equal(target.password, REQUIRED_FOR_TEST.REDIS_PASSWORD, 'the URL carries the data nodes\' password');
    assert.equal(target.sentinelPassword, undefined, 'the Sentinels have no password of their own');
    const deps = dependsOn(s);
    for (const h of target.sentinels) {
      assert.equal(deps[h.host]?.condition, 'service_healthy', `${name} waits for ${h.host} to be healthy`);
      assert.ok(services[h.host]!.healthcheck, `${h.host} has a healthcheck`);
    }
  }
});

test('the Sentinels agree: one monitor line naming the first primary by service name, a majority quorum, host names announced and resolved, the data password', () => {
  const monitors = new Set(sentinelServices.map(([n]) => sentinelConf(n).find((l) => l.startsWith('sentinel monitor '))));
  assert.equal(monitors.size, 1, `one monitor line: ${[...monitors].join(' | ')}`);
  const [, , master, host, port, quorum] = [...monitors][0]!.split(' ');
  assert.ok(services[host!] && dataServices.some(([n]) => n === host), `the monitored primary ${host} is a data service`);
  assert.equal(port, '6379');
  assert.ok(Number(quorum) > sentinelServices.length / 2 && Number(quorum) <= sentinelServices.length, `quorum ${quorum} is a majority of ${sentinelServices.length}`);
  for (const [name, s] of sentinelServices) {
    const conf = sentinelConf(name);
    const at = (prefix: string) => conf.findIndex((l) => l.startsWith(prefix));
    assert.ok(at('sentinel resolve-hostnames yes') !== -1 && at('sentinel resolve-hostnames yes') < at('sentinel monitor '), `${name} resolves host names before its monitor line`);
    assert.ok(conf.includes('sentinel announce-hostnames yes'), `${name} hands out host names`);
    assert.ok(conf.includes(`sentinel announce-ip ${name}`), `${name} announces its own service name`);
    assert.ok(conf.includes(`sentinel auth-pass ${master} ${REQUIRED_FOR_TEST.REDIS_PASSWORD}`), `${name} authenticates to the data nodes`);
    assert.ok(argvOf(s).join(' ').includes('[ ! -f /data/sentinel.conf ]'), `${name} writes its config only once (Sentinel keeps its state there)`);
    assert.ok((s.volumes ?? []).some((v) => v.endsWith(':/data')), `${name} keeps /data on a volume`);
    assert.equal(dependsOn(s)[host!]?.condition, 'service_healthy', `${name} starts once ${host} answers`);
  }
});

test('the replicas follow the monitored primary; every data node is durable, password-protected and announces its service name', () => {
  const monitor = sentinelConf(sentinelServices[0]![0]).find((l) => l.startsWith('sentinel monitor '))!.split(' ');
  const primary = monitor[3]!;
  for (const [name, s] of dataServices) {
    const argv = argvOf(s);
    const cmd = argv.join(' ');
    assert.match(cmd, /--appendonly yes\b/, `${name}: appendonly`);
    assert.match(cmd, /--appendfsync everysec\b/, `${name}: appendfsync everysec`);
    assert.match(cmd, /--maxmemory-policy noeviction\b/, `${name}: noeviction`);
    assert.equal(flag(argv, '--requirepass'), REQUIRED_FOR_TEST.REDIS_PASSWORD, `${name}: requirepass`);
    assert.equal(flag(argv, '--masterauth'), REQUIRED_FOR_TEST.REDIS_PASSWORD, `${name}: masterauth (every node may become a replica)`);
    assert.equal(flag(argv, '--replica-announce-ip'), name, `${name} announces its service name`);
    if (name === primary) assert.equal(flag(argv, '--replicaof'), undefined, `${name} is the first primary`);
    else {
      assert.equal(flag(argv, '--replicaof'), primary, `${name} replicates ${primary}`);
      assert.equal(argv[argv.indexOf('--replicaof') + 2], '6379');
      assert.equal(dependsOn(s)[primary]?.condition, 'service_healthy', `${name} starts once ${primary} answers`);
    }
    assert.equal(envOf(name).REDISCLI_AUTH, REQUIRED_FOR_TEST.REDIS_PASSWORD, `${name}'s healthcheck authenticates`);
    const volume = s.volumes?.find((v) => v.endsWith(':/data'));
    assert.ok(volume, `${name} keeps /data on a volume`);
    assert.ok(compose.volumes && volume.split(':')[0]! in compose.volumes, `${name}'s volume is declared`);
  }
  assert.equal(new Set(dataServices.map(([, s]) => s.volumes?.[0])).size, dataServices.length, 'one volume per node');
});

test('min-replicas-to-write is documented (and off): in the compose file and in docs/operations.md', () => {
  assert.match(COMPOSE_TEXT, /#.*min-replicas-to-write/);
  for (const [, s] of dataServices) assert.ok(!argvOf(s).includes('--min-replicas-to-write'));
  assert.match(readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8'), /min-replicas-to-write/);
});
