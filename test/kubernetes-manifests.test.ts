/**
 * deploy/kubernetes, offline: the base and every overlay rendered with
 * `kubectl kustomize` (KUBECTL overrides the binary), every object validated
 * against the Kubernetes and KEDA schemas (kubernetes-models), and what the
 * manifests claim about Conveyor checked against Conveyor itself:
 *
 *  - the variables they set are ones loadConfig reads, with values it
 *    accepts, and the ports they declare are the ones those values make the
 *    processes listen on;
 *  - each Conveyor container, started here with the manifest's environment
 *    (Redis and ports swapped for a local redis-server and free ports),
 *    answers 200 on its probe paths;
 *  - commands are the Dockerfile's entrypoint and real CLI commands; the
 *    user is the Dockerfile's; the image tag is package.json's version and
 *    kustomize `images:` overrides it;
 *  - termination grace beyond SHUTDOWN_GRACE_MS plus the worker's stop
 *    margin; non-root, read-only, no privilege escalation, capabilities
 *    dropped, a writable /tmp; requests and limits everywhere;
 *  - PDBs and Services select existing pods, Services target declared
 *    ports; the KEDA ScaledObject targets the workers and queries gauges
 *    Conveyor exports, for the queues the workers consume;
 *  - production commits no Secret values, and secret.example.yaml (not in
 *    the kustomization) holds every key the manifests read.
 *
 * kubectl missing is a failure naming the package, not a skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as k8s from 'kubernetes-models';
import * as keda from '@kubernetes-models/keda';
import { Registry } from 'prom-client';
import { loadConfig } from '../shared/config/config.ts';
import { OPTION_VARIABLES } from '../shared/config/options.ts';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { platformCommands } from '../cli/platform-commands.ts';
import { STOP_MARGIN_MS } from '../worker/standalone.ts';
import { registerQueueGauges, type QueueReading } from '../shared/metrics/queue-gauges.ts';
import { spawnConveyor, type ConveyorProcess, type ProcessKind } from '../shared/testing/processes.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

const ROOT = join(import.meta.dirname, '..');
const KDIR = join(ROOT, 'deploy', 'kubernetes');
const KUBECTL = process.env.KUBECTL || 'kubectl';
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const SECRET_EXAMPLE = join(KDIR, 'overlays', 'production', 'secret.example.yaml');

type Obj = Record<string, any>;

/** The base and every overlay, by path relative to deploy/kubernetes. */
const TARGETS = ['base', ...readdirSync(join(KDIR, 'overlays')).map((o) => `overlays/${o}`)];

function kubectlVersion(): string {
  const r = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    assert.fail(
      `${KUBECTL} is not installed or does not run (${r.error?.message ?? r.stderr}): these tests render the manifests with ` +
        '`kubectl kustomize`. Install it (Debian: apt-get install kubernetes-client; .ci/run does) or point KUBECTL at one.',
    );
  }
  return r.stdout.split('\n')[0]!;
}

function render(dir: string): Obj[] {
  const r = spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize ${relative(ROOT, dir)} failed:\n${r.stderr}`);
  return parseYaml(r.stdout, dir);
}

function parseYaml(text: string, where: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `YAML errors in ${where}`);
    return d.toJS() as Obj;
  }).filter((o) => o !== null);
}

const rendered = new Map<string, Obj[]>();
const example = existsSync(SECRET_EXAMPLE) ? parseYaml(readFileSync(SECRET_EXAMPLE, 'utf8'), SECRET_EXAMPLE) : [];

before(() => {
  console.log(`  ${kubectlVersion()}`);
  for (const t of TARGETS) rendered.set(t, render(join(KDIR, t)));
});

const objs = (t: string) => rendered.get(t)!;
const ofKind = (t: string, kind: string) => objs(t).filter((o) => o.kind === kind);
const name = (o: Obj) => `${o.kind}/${o.metadata?.name}`;
const deployments = (t: string) => ofKind(t, 'Deployment');
const podSpec = (d: Obj): Obj => d.spec.template.spec;
const podLabels = (d: Obj): Record<string, string> => d.spec.template.metadata?.labels ?? {};
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Conveyor's image, by repository name (the tag is what `images:` changes). */
const isConveyor = (c: Obj) => /(^|\/)conveyor(:|@|$)/.test(c.image);
/** The process a Conveyor container runs: its first argument after `node bin/conveyor.js`. */
const kindOf = (c: Obj): ProcessKind => c.args?.[0];

// ---- what the source says ----

/** Every variable loadConfig reads (recorded from a real call), plus the documented option table. */
const READ_VARIABLES: ReadonlySet<string> = (() => {
  const seen = new Set<string>(Object.values(OPTION_VARIABLES));
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_t, key) {
      if (typeof key === 'string') seen.add(key);
      return undefined;
    },
  });
  loadConfig(env);
  return seen;
})();

/** The Dockerfile's final stage: its user, its CMD. */
const DOCKERFILE = (() => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const last = text.slice(text.lastIndexOf('\nFROM '));
  const from = /^FROM\s+(\S+)/m.exec(last)![1]!;
  const user = [...last.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
  const cmd = JSON.parse(/^CMD\s+(\[.*\])\s*$/m.exec(last)![1]!) as string[];
  return { from, user, cmd };
})();

/** The numeric uid of the Dockerfile's USER: a number as is; "node" is uid 1000 in the official node images. */
function dockerfileUid(): number {
  const u = DOCKERFILE.user;
  assert.ok(u && u !== 'root' && u !== '0', `the Dockerfile's final stage runs as ${u ?? 'root'}`);
  if (/^\d+$/.test(u)) return Number(u);
  assert.equal(u, 'node', `unknown uid of USER ${u}`);
  assert.match(DOCKERFILE.from, /^node:/, 'USER node is uid 1000 in the official node images only');
  return 1000;
}

// ---- schema validation ----

function modelClass(apiVersion: string, kind: string): (new (data: Obj) => { validate(): void }) | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const camel = (g: string) => g.replace(/\.([a-z])/g, (_m, c: string) => c.toUpperCase());
  const ns: any = group === '' ? (k8s as any)[version!] : ((k8s as any)[camel(group!)] ?? (keda as any)[camel(group!)])?.[version!];
  return ns?.[kind];
}

for (const t of TARGETS) {
  test(`${t}: every object is valid against the Kubernetes / KEDA schema`, () => {
    assert.ok(objs(t).length > 0, 'nothing rendered');
    for (const o of objs(t)) {
      const Model = modelClass(o.apiVersion, o.kind);
      assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
      try {
        new Model(o).validate();
      } catch (err) {
        assert.fail(`${name(o)} is invalid: ${(err as Error).message}`);
      }
    }
    const names = objs(t).map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.equal(new Set(names).size, names.length, 'duplicate objects');
  });
}

// ---- the processes ----

for (const t of TARGETS) {
  test(`${t}: Conveyor containers run \`node bin/conveyor.js <process>\` of the Dockerfile with the CLI's commands, image conveyor:${PKG.version}`, () => {
    const commands = new Set(platformCommands.map((c) => c.path.join(' ')));
    const conveyors = deployments(t).flatMap((d) => podSpec(d).containers.filter(isConveyor));
    assert.deepEqual(new Set(conveyors.map(kindOf)), new Set(['server', 'worker', 'dashboard']), 'one Deployment per process');
    assert.ok(existsSync(join(ROOT, DOCKERFILE.cmd[1]!)), `${DOCKERFILE.cmd[1]} exists`);
    for (const c of conveyors) {
      assert.deepEqual(c.command, DOCKERFILE.cmd.slice(0, 2), `${c.name}: the Dockerfile's entrypoint (CMD ${JSON.stringify(DOCKERFILE.cmd)})`);
      assert.equal(c.args.length, 1, `${c.name}: args ${JSON.stringify(c.args)}`);
      assert.ok(commands.has(c.args[0]), `${c.name}: "${c.args[0]}" is not a conveyor command`);
      assert.equal(c.image, `conveyor:${PKG.version}`, `${c.name}: image`);
    }
  });

  test(`${t}: every variable a Conveyor container sets is one loadConfig reads`, () => {
    for (const d of deployments(t)) {
      for (const c of podSpec(d).containers.filter(isConveyor)) {
        assert.equal(c.envFrom, undefined, `${c.name}: envFrom would set variables nobody checked`);
        for (const e of c.env ?? []) assert.ok(READ_VARIABLES.has(e.name), `${name(d)} ${c.name}: ${e.name} is not a Conveyor setting`);
      }
    }
  });
}

test('kustomize `images:` overrides the image of every Conveyor container', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-kustomize-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), `bases:\n  - ${relative(dir, join(KDIR, 'base'))}\nimages:\n  - name: conveyor\n    newName: registry.example.com/team/conveyor\n    newTag: 9.9.9\n`);
    const images = render(dir).filter((o) => o.kind === 'Deployment').flatMap((d) => podSpec(d).containers.map((c: Obj) => c.image));
    assert.ok(images.length >= 3);
    for (const i of images) assert.equal(i, 'registry.example.com/team/conveyor:9.9.9');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Secret values: from a Secret the render holds, else from secret.example.yaml (production creates its own). */
function secretValue(t: string, ref: { name: string; key: string }): string | undefined {
  const fromRender = ofKind(t, 'Secret').find((s) => s.metadata.name === ref.name);
  const s = fromRender ?? example.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
  if (!s) return undefined;
  if (s.stringData?.[ref.key] !== undefined) return String(s.stringData[ref.key]);
  if (s.data?.[ref.key] !== undefined) return Buffer.from(s.data[ref.key], 'base64').toString('utf8');
  return undefined;
}

/** A container's environment as the process would see it. */
function environment(t: string, c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const v = secretValue(t, e.valueFrom.secretKeyRef);
      if (v === undefined && e.valueFrom.secretKeyRef.optional) continue;
      assert.ok(v !== undefined, `${c.name}: ${e.name} reads Secret ${e.valueFrom.secretKeyRef.name} key ${e.valueFrom.secretKeyRef.key}, which neither the render nor secret.example.yaml holds`);
      env[e.name] = v;
    } else assert.fail(`${c.name}: ${e.name} comes from ${JSON.stringify(e.valueFrom)} (only value and secretKeyRef are checked)`);
  }
  return env;
}

/** The variable that sets a process's listening port, and its value in the config. */
const PORT_OF: Record<ProcessKind, { variable: string; port: (cfg: ReturnType<typeof loadConfig>) => number | undefined; listening: string }> = {
  server: { variable: 'API_PORT', port: (cfg) => cfg.apiPort, listening: 'listening' },
  worker: { variable: 'METRICS_PORT', port: (cfg) => cfg.metricsPort, listening: 'metrics listening' },
  dashboard: { variable: 'DASHBOARD_PORT', port: (cfg) => cfg.dashboardPort, listening: 'listening' },
};

function declaredPort(c: Obj, port: string | number): number {
  const p = (c.ports ?? []).find((p: Obj) => p.name === port || p.containerPort === port);
  assert.ok(p, `${c.name}: port ${port} is not a declared containerPort`);
  return p.containerPort;
}

const probesOf = (c: Obj): [string, Obj][] =>
  (['startupProbe', 'livenessProbe', 'readinessProbe'] as const).filter((p) => c[p]).map((p) => [p, c[p]]);

for (const t of TARGETS) {
  test(`${t}: the settings are valid, the declared ports are where the processes listen, probes hit declared ports`, () => {
    for (const d of deployments(t)) {
      for (const c of podSpec(d).containers.filter(isConveyor)) {
        const cfg = loadConfig(environment(t, c));
        const listens = PORT_OF[kindOf(c)].port(cfg);
        assert.ok(listens !== undefined, `${c.name}: ${PORT_OF[kindOf(c)].variable} must be set (the probes need the endpoint)`);
        assert.ok((c.ports ?? []).some((p: Obj) => p.containerPort === listens), `${c.name}: listens on ${listens}, declares ${JSON.stringify(c.ports)}`);
        const probes = probesOf(c);
        assert.deepEqual(probes.map(([p]) => p).filter((p) => p !== 'startupProbe'), ['livenessProbe', 'readinessProbe'], `${c.name}: liveness and readiness probes`);
        for (const [p, probe] of probes) {
          assert.ok(probe.httpGet, `${c.name}: ${p} is an HTTP probe`);
          assert.equal(declaredPort(c, probe.httpGet.port), listens, `${c.name}: ${p} port`);
        }
      }
    }
  });
}

// One Conveyor process per distinct (process, settings, probes), started for real.
let redis: RedisProcess | undefined;
const started: ConveyorProcess[] = [];
after(async () => {
  await Promise.allSettled(started.map((p) => p.stop('SIGKILL')));
  await redis?.stop();
});

/** The status of GET path, redirects not followed (a redirect to a login page is not the probe's answer). */
async function get(port: number, path: string): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual' });
  await r.body?.cancel();
  return r.status;
}

test('every Conveyor container, started with its manifest environment, answers 200 on its probe paths', { timeout: 120_000 }, async () => {
  const runs = new Map<string, { where: string; kind: ProcessKind; env: Record<string, string>; probes: [string, string][] }>();
  for (const t of TARGETS) {
    for (const d of deployments(t)) {
      for (const c of podSpec(d).containers.filter(isConveyor)) {
        const kind = kindOf(c);
        const env = environment(t, c);
        const probes = probesOf(c).map(([p, probe]) => [p, probe.httpGet.path] as [string, string]);
        const key = JSON.stringify([kind, Object.entries(env).sort(), probes]);
        if (!runs.has(key)) runs.set(key, { where: `${t} ${name(d)}`, kind, env, probes });
      }
    }
  }
  redis = await startRedis();
  await Promise.all(
    [...runs.values()].map(async (r) => {
      // The manifest's environment; Redis and the port swapped for local ones (0: a free port).
      const p = spawnConveyor(r.kind, { ...r.env, REDIS_URL: redis!.url, [PORT_OF[r.kind].variable]: '0', ...(r.kind === 'worker' ? { METRICS_HOST: '127.0.0.1' } : {}) });
      started.push(p);
      const line = await p.waitForLine(PORT_OF[r.kind].listening, (j) => j.msg === PORT_OF[r.kind].listening && (typeof j.port === 'number' || typeof j.url === 'string'), 30_000);
      const port = typeof line.port === 'number' ? line.port : Number(new URL(line.url).port);
      for (const [probe, path] of r.probes) {
        await waitFor(`${r.where}: ${probe} GET ${path} 200`, async () => (await get(port, path)) === 200, { timeoutMs: 20_000 });
      }
      // And a path it does not serve is not 200: the check can fail.
      assert.notEqual(await get(port, '/no-such-probe-path'), 200);
      assert.equal(await p.stop('SIGTERM'), 0, `${r.where}: clean exit on SIGTERM`);
    }),
  );
});

// ---- pods: shutdown, security, resources ----

for (const t of TARGETS) {
  test(`${t}: terminationGracePeriodSeconds beyond SHUTDOWN_GRACE_MS and the worker's stop margin`, () => {
    for (const d of deployments(t)) {
      const spec = podSpec(d);
      assert.equal(typeof spec.terminationGracePeriodSeconds, 'number', `${name(d)}: terminationGracePeriodSeconds set`);
      for (const c of spec.containers.filter(isConveyor)) {
        if (kindOf(c) !== 'worker') continue;
        const env = environment(t, c);
        assert.ok(env.SHUTDOWN_GRACE_MS !== undefined, `${c.name}: SHUTDOWN_GRACE_MS given explicitly`);
        const needMs = loadConfig(env).shutdownGraceMs + STOP_MARGIN_MS;
        assert.ok(spec.terminationGracePeriodSeconds * 1000 > needMs, `${name(d)}: ${spec.terminationGracePeriodSeconds} s ≤ SHUTDOWN_GRACE_MS + stop margin (${needMs} ms)`);
      }
      for (const c of spec.containers) {
        const pre = c.lifecycle?.preStop?.exec?.command;
        if (pre?.[0] === 'sleep') assert.ok(Number(pre[1]) < spec.terminationGracePeriodSeconds, `${c.name}: preStop sleep within the grace`);
      }
    }
  });

  test(`${t}: non-root, read-only root, no privilege escalation, capabilities dropped, a writable /tmp, requests and limits`, () => {
    const uid = dockerfileUid();
    for (const d of deployments(t)) {
      const spec = podSpec(d);
      assert.equal(spec.enableServiceLinks, false, `${name(d)}: Service links off (their <SERVICE>_PORT variables can collide with settings such as API_PORT)`);
      assert.equal(spec.automountServiceAccountToken, false, `${name(d)}: no API token in the pod`);
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${name(d)}: pod runAsNonRoot`);
      const volumes = new Map<string, Obj>((spec.volumes ?? []).map((v: Obj) => [v.name, v]));
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = { ...spec.securityContext, ...c.securityContext };
        const where = `${name(d)} ${c.name}`;
        assert.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${where}: a numeric non-root runAsUser (runAsNonRoot cannot check a user name)`);
        if (isConveyor(c)) assert.equal(sc.runAsUser, uid, `${where}: the Dockerfile's user (${DOCKERFILE.user} = ${uid})`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities drop ALL`);
        assert.equal(c.securityContext?.capabilities?.add, undefined, `${where}: no capabilities added`);
        for (const m of c.volumeMounts ?? []) {
          const v = volumes.get(m.name);
          assert.ok(v, `${where}: mount ${m.name} has no volume`);
          assert.ok(v.emptyDir || v.secret || v.configMap, `${where}: ${m.name} is an emptyDir, Secret or ConfigMap`);
        }
        if (isConveyor(c)) {
          const tmp = (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === '/tmp');
          assert.ok(tmp && volumes.get(tmp.name)?.emptyDir, `${where}: /tmp is an emptyDir (the root filesystem is read-only)`);
        }
        for (const kind of ['requests', 'limits'] as const) {
          assert.ok(c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory, `${where}: resources.${kind} cpu and memory`);
        }
      }
    }
  });
}

// ---- selectors: PDBs, Services ----

for (const t of TARGETS) {
  test(`${t}: one PDB per Deployment, selecting its pods, that never blocks a drain`, () => {
    const pdbs = ofKind(t, 'PodDisruptionBudget');
    for (const d of deployments(t)) {
      assert.deepEqual(d.spec.selector.matchLabels, Object.fromEntries(Object.keys(d.spec.selector.matchLabels).map((k) => [k, podLabels(d)[k]])), `${name(d)}: selector matches its own template`);
      const mine = pdbs.filter((p) => selects(p.spec.selector?.matchLabels, podLabels(d)));
      assert.equal(mine.length, 1, `${name(d)}: ${mine.length} PDBs select its pods`);
      const pdb = mine[0]!;
      const replicas = d.spec.replicas ?? 1;
      if (pdb.spec.minAvailable !== undefined) assert.ok(Number(pdb.spec.minAvailable) < replicas, `${name(pdb)}: minAvailable ${pdb.spec.minAvailable} with ${replicas} replicas blocks every drain`);
      else assert.ok(pdb.spec.maxUnavailable !== undefined && pdb.spec.maxUnavailable !== 0, `${name(pdb)}: maxUnavailable > 0`);
    }
    for (const p of pdbs) {
      const matched = deployments(t).filter((d) => selects(p.spec.selector?.matchLabels, podLabels(d)));
      assert.equal(matched.length, 1, `${name(p)} selects ${matched.length} Deployments`);
    }
  });

  test(`${t}: Services select existing pods and target declared container ports`, () => {
    const services = ofKind(t, 'Service');
    assert.ok(services.length > 0);
    for (const s of services) {
      const pods = deployments(t).filter((d) => selects(s.spec.selector, podLabels(d)));
      assert.ok(pods.length > 0, `${name(s)} selects no pods`);
      for (const port of s.spec.ports) {
        const target = port.targetPort ?? port.port;
        for (const d of pods) {
          const declared = podSpec(d).containers.some((c: Obj) => (c.ports ?? []).some((p: Obj) => p.name === target || p.containerPort === target));
          assert.ok(declared, `${name(s)} port ${port.name ?? port.port}: ${name(d)} declares no container port ${target}`);
        }
      }
    }
  });

  test(`${t}: REDIS_URL points at a Service of this render, or at a Redis outside it`, () => {
    for (const d of deployments(t)) {
      for (const c of podSpec(d).containers.filter(isConveyor)) {
        const target = parseRedisUrl(environment(t, c).REDIS_URL ?? assert.fail(`${c.name}: REDIS_URL is unset`));
        if (target.kind !== 'standalone' || target.host.includes('.')) continue; // outside the namespace
        const svc = ofKind(t, 'Service').find((s) => s.metadata.name === target.host);
        if (t === 'base' && !svc) continue; // the base leaves the Redis to its overlays
        assert.ok(svc, `${c.name}: REDIS_URL host ${target.host} is no Service here`);
        assert.ok(svc.spec.ports.some((p: Obj) => p.port === target.port), `${c.name}: Service ${target.host} has no port ${target.port}`);
      }
    }
  });
}

// ---- KEDA ----

/** The series Conveyor's queue gauges export for one queue. */
async function gaugeSeries(queue: string): Promise<string> {
  const registry = new Registry();
  const reading: QueueReading = {
    summary: { name: queue, counts: {}, paused: false } as unknown as QueueReading['summary'],
    oldestWaitingSince: undefined,
    workers: 1,
  };
  registerQueueGauges(registry, async () => [reading]);
  return registry.metrics();
}

test('the KEDA ScaledObject scales the worker Deployment on gauges Conveyor exports, for the queues the workers consume', async () => {
  const withKeda = TARGETS.filter((t) => ofKind(t, 'ScaledObject').length > 0);
  assert.ok(withKeda.includes('overlays/production'), 'production autoscales its workers');
  for (const t of withKeda) {
    for (const so of ofKind(t, 'ScaledObject')) {
      const target = deployments(t).find((d) => d.metadata.name === so.spec.scaleTargetRef.name);
      assert.ok(target, `${name(so)}: no Deployment ${so.spec.scaleTargetRef.name}`);
      const worker = podSpec(target).containers.find((c: Obj) => isConveyor(c) && kindOf(c) === 'worker');
      assert.ok(worker, `${name(so)} scales ${name(target)}, which runs no worker`);
      assert.equal(target.spec.replicas, undefined, `${name(target)}: no replicas field (each apply would reset KEDA's count)`);
      assert.ok(Number.isInteger(so.spec.minReplicaCount) && so.spec.minReplicaCount >= 0);
      assert.ok(so.spec.maxReplicaCount >= Math.max(1, so.spec.minReplicaCount), 'max ≥ min');
      const queues = loadConfig(environment(t, worker)).queues;
      assert.ok(so.spec.triggers.length > 0);
      for (const trig of so.spec.triggers) {
        assert.equal(trig.type, 'prometheus', `${name(so)}: trigger ${trig.type} (docs/operations.md says why Prometheus)`);
        assert.ok(Number(trig.metadata.threshold) > 0, 'threshold');
        const selectors = [...String(trig.metadata.query).matchAll(/([a-z_:][a-z0-9_:]*)\{([^}]*)\}/g)];
        assert.ok(selectors.length > 0, 'the query selects series');
        for (const [, metric, matchers] of selectors) {
          for (const queue of queues) {
            const series = (await gaugeSeries(queue)).split('\n').filter((l) => l.startsWith(`${metric}{`));
            assert.ok(series.length > 0, `${metric} is not a gauge Conveyor exports`);
            const labels = series.map((l) => Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])));
            for (const [, label, op, value] of matchers!.matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
              if (label === 'queue') {
                assert.match(queue, new RegExp(`^(?:${op === '=~' ? value : value!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})$`), `${name(so)}: the query's queue matcher ${value} misses the worker's queue ${queue}`);
                continue;
              }
              const wanted = op === '=~' ? value!.split('|') : [value!];
              for (const w of wanted) assert.ok(labels.some((l) => l[label!] === w), `${metric} has no series with ${label}="${w}"`);
            }
          }
        }
      }
    }
  }
});

// ---- Secrets ----

test('production commits no Secret values; secret.example.yaml (outside the kustomization) holds every key it reads', () => {
  const t = 'overlays/production';
  assert.deepEqual(ofKind(t, 'Secret'), [], 'no Secret in the production render');
  assert.ok(example.length > 0, 'overlays/production/secret.example.yaml');
  const kustomization = readFileSync(join(KDIR, 'overlays', 'production', 'kustomization.yaml'), 'utf8');
  assert.ok(!/^\s*-\s*secret\.example\.yaml/m.test(kustomization), 'secret.example.yaml is not a resource of the overlay');
  const refs = deployments(t).flatMap((d) => podSpec(d).containers.flatMap((c: Obj) => (c.env ?? []).filter((e: Obj) => e.valueFrom?.secretKeyRef)));
  assert.ok(refs.some((e: Obj) => e.name === 'REDIS_URL'), 'REDIS_URL from a Secret');
  assert.ok(refs.some((e: Obj) => e.name === 'API_TOKENS'), 'API_TOKENS from a Secret');
  assert.ok(refs.some((e: Obj) => e.name === 'DASHBOARD_PASSWORD'), 'DASHBOARD_PASSWORD from a Secret');
  for (const e of refs) {
    const { name: secret, key } = e.valueFrom.secretKeyRef;
    const s = example.find((o) => o.kind === 'Secret' && o.metadata.name === secret);
    assert.ok(s?.stringData?.[key] !== undefined, `secret.example.yaml lacks Secret ${secret} key ${key} (${e.name})`);
  }
  for (const d of deployments(t)) {
    for (const c of podSpec(d).containers) {
      for (const e of c.env ?? []) {
        assert.ok(!/TOKEN|PASSWORD|SECRET/.test(e.name) || e.valueFrom?.secretKeyRef, `${c.name}: ${e.name} is written in the manifest instead of read from a Secret`);
        if (e.name === 'REDIS_URL') assert.ok(e.valueFrom?.secretKeyRef, 'REDIS_URL (it holds the password) from a Secret');
      }
    }
  }
});
