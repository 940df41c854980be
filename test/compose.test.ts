/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine:
 * the services exist, every process's environment passes loadConfig, ports,
 * healthchecks and published ports agree with API_PORT / DASHBOARD_PORT, every
 * REDIS_URL names a service of the file, and Redis is durable (AOF, noeviction).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '#shared/config/config.ts';
import { parseRedisUrl, type HostPort } from '#shared/config/redis-url.ts';

const ROOT = join(import.meta.dirname, '..');

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}

// Compose resolves YAML merge keys (<<), as yaml does with { merge: true }.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;

/** Values for the variables the file requires (${VAR:?...}); everything else takes its default. */
const REQUIRED_FOR_TEST: Record<string, string> = {
  API_TOKENS: 'ci:token-for-compose-test:enqueue+read+admin',
  DASHBOARD_USER: 'admin',
  DASHBOARD_PASSWORD: 'a-password-for-the-test',
};

/** Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} interpolation, with an empty shell environment. */
function interpolate(value: string, vars: Record<string, string> = REQUIRED_FOR_TEST): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    if (op?.endsWith('-')) return v ?? arg ?? '';
    if (op?.endsWith('?')) {
      if (v === undefined) throw new Error(`compose would refuse to start: ${name} is required (${arg})`);
      return v;
    }
    return v ?? '';
  });
}

function envOf(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(services[name]?.environment ?? {})) env[k] = interpolate(String(v));
  return env;
}

const commandOf = (s: Service): string[] => (Array.isArray(s.command) ? s.command : (s.command ?? '').split(/\s+/));
const conveyorServices = Object.entries(services).filter(([, s]) => commandOf(s).some((a) => /(server|worker|dashboard)\/main\.ts$/.test(a)));

/** Container port published for a "host:container" entry. */
function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => Number(interpolate(p).split(':').pop()));
}

function healthcheckPort(s: Service): number | undefined {
  const m = (s.healthcheck?.test ?? []).join(' ').match(/http:\/\/127\.0\.0\.1:(\d+)\/healthz/);
  return m ? Number(m[1]) : undefined;
}

test('the services exist: redis, server, worker, dashboard', () => {
  for (const name of ['redis', 'server', 'worker', 'dashboard']) assert.ok(services[name], `service ${name}`);
});

test('server, worker and dashboard run their main.ts from the one image built by the Dockerfile', () => {
  assert.deepEqual(conveyorServices.map(([n]) => n).sort(), ['dashboard', 'server', 'worker']);
  for (const [name, s] of conveyorServices) {
    const cmd = commandOf(s);
    assert.deepEqual(cmd.slice(0, 3), ['node', '--import', 'tsx'], `${name} runs node --import tsx`);
    assert.ok(existsSync(join(ROOT, cmd[3]!)), `${name}: ${cmd[3]} exists`);
    const context = typeof s.build === 'string' ? s.build : s.build?.context;
    assert.equal(context, '.', `${name} is built from the repository root`);
  }
  const images = new Set(conveyorServices.map(([, s]) => s.image));
  assert.equal(images.size, 1, 'one image for all three');
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^FROM node:20-slim/m);
  assert.match(dockerfile, /^RUN npm ci\b/m);
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

  const worker = loadConfig(envOf('worker'));
  const grace = Number(/^(\d+)s$/.exec(services.worker!.stop_grace_period ?? '')?.[1] ?? 10) * 1000;
  assert.ok(grace > worker.shutdownGraceMs, `stop_grace_period (${grace} ms) outlasts SHUTDOWN_GRACE_MS (${worker.shutdownGraceMs} ms)`);
});

test('every REDIS_URL names Redis services of this file, and each process waits for Redis to be healthy', () => {
  for (const [name, s] of conveyorServices) {
    const env = envOf(name);
    assert.ok(env.REDIS_URL, `${name} has a REDIS_URL`);
    const target = parseRedisUrl(env.REDIS_URL);
    const hosts: HostPort[] = target.kind === 'standalone' ? [{ host: target.host, port: target.port }] : target.kind === 'sentinel' ? target.sentinels : target.nodes;
    for (const h of hosts) {
      assert.ok(services[h.host], `${name}: REDIS_URL host "${h.host}" is a service`);
      assert.match(services[h.host]!.image ?? '', /^redis:/, `${h.host} runs a redis image`);
    }
    const deps = Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, { condition: 'service_started' }])) : (s.depends_on ?? {});
    for (const h of hosts) {
      assert.equal(deps[h.host]?.condition, 'service_healthy', `${name} waits for ${h.host} to be healthy`);
      assert.ok(services[h.host]!.healthcheck, `${h.host} has a healthcheck`);
    }
  }
});

test('Redis is durable: AOF on, noeviction, data on a volume', () => {
  const redisNodes = Object.entries(services).filter(([, s]) => /^redis:/.test(s.image ?? '') && !commandOf(s).includes('--sentinel'));
  assert.ok(redisNodes.length >= 1);
  for (const [name, s] of redisNodes) {
    const cmd = commandOf(s).join(' ');
    assert.match(cmd, /--appendonly yes\b/, `${name}: appendonly`);
    assert.match(cmd, /--maxmemory-policy noeviction\b/, `${name}: noeviction`);
    const volume = (s as { volumes?: string[] }).volumes?.find((v) => v.endsWith(':/data'));
    assert.ok(volume, `${name} keeps /data on a volume`);
    assert.ok(compose.volumes && volume.split(':')[0]! in compose.volumes, `${name}'s volume is declared`);
  }
});
