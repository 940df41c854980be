/**
 * The OpenAPI document passes `redocly lint` (recommended rules) with no
 * error and no warning, without known jobs and with a realistic set of them
 * (zod schemas as the job catalog turns them into JSON Schema, a recursive
 * one, a draft-07 JSON Schema with definitions, a job without a schema).
 *
 * Offline by construction: telemetry and notices are off by variable and by
 * config, HOME is a temporary folder (no stored login), and a preload module
 * refuses every TCP connection and DNS lookup, printing a line this test
 * looks for: a Redocly release that starts calling home fails here, loudly,
 * instead of leaking traffic or hanging on a machine without a network.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { openApiDocument, type OpenApiJob } from '../server/openapi.ts';
import { defineJob } from '../shared/jobs/define-job.ts';
import { JobCatalog } from '../shared/jobs/job-catalog.ts';

const cli = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');
const NETWORK_REFUSED = 'OFFLINE TEST: redocly tried the network';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'conveyor-openapi-lint-'));
  writeFileSync(join(dir, 'redocly.yaml'), 'extends:\n  - recommended\ntelemetry: off\n');
  // Any socket that is not a local pipe, and any DNS lookup, is refused and reported.
  writeFileSync(
    join(dir, 'offline.mjs'),
    `import net from 'node:net';
import dns from 'node:dns';
const refuse = (what) => {
  process.stderr.write(${JSON.stringify(NETWORK_REFUSED)} + ' (' + what + ')\\n');
  throw new Error('offline: ' + what);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'string' || typeof first?.path === 'string') return connect.apply(this, args);
  refuse('connect to ' + (first?.servername ?? first?.host ?? '?') + ':' + (first?.port ?? '?'));
};
dns.lookup = (host) => refuse('dns.lookup ' + host);
dns.promises.lookup = async (host) => refuse('dns.promises.lookup ' + host);
`,
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer?: string }[] }[];
}

function lint(name: string, doc: unknown): LintReport {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_CONFIG_HOME: dir,
    REDOCLY_TELEMETRY: 'off',
    REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
    CI: 'true',
    NO_COLOR: '1',
  };
  const r = spawnSync(
    process.execPath,
    ['--import', pathToFileURL(join(dir, 'offline.mjs')).href, cli, 'lint', '--config', join(dir, 'redocly.yaml'), '--lint-config', 'error', '--format', 'json', '--max-problems', '1000', file],
    { cwd: dir, env, encoding: 'utf8', timeout: 60_000 },
  );
  assert.ok(!r.stderr.includes(NETWORK_REFUSED), `redocly must not use the network:\n${r.stderr}`);
  assert.equal(r.error, undefined, `redocly could not run: ${String(r.error)}`);
  let report: LintReport;
  try {
    report = JSON.parse(r.stdout) as LintReport;
  } catch {
    assert.fail(`redocly printed no JSON report (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const listed = report.problems.map((p) => `  ${p.severity} ${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`).join('\n');
  assert.deepEqual(
    { errors: report.totals.errors, warnings: report.totals.warnings, ignored: report.totals.ignored },
    { errors: 0, warnings: 0, ignored: 0 },
    `redocly lint of the ${name} document:\n${listed}`,
  );
  assert.equal(r.status, 0, `redocly exit status\n${r.stderr}`);
  return report;
}

/** The known jobs as the server would list them: from a catalog of definitions (zod → JSON Schema) and a JSON Schema. */
async function knownJobs(): Promise<OpenApiJob[]> {
  type Node = { value: number; children: Node[] };
  const node: z.ZodType<Node> = z.lazy(() => z.object({ value: z.number(), children: z.array(node) }));
  const item = z.object({ sku: z.string().min(1), qty: z.number().int().min(1) });
  const definitions = [
    defineJob({ name: 'send-welcome', queue: 'emails', schema: z.object({ userId: z.number().int(), locale: z.enum(['en', 'fr']).optional() }), description: 'The first mail' }),
    defineJob({ name: 'order.place', schema: z.object({ items: z.array(item).min(1), gift: item.optional(), at: z.iso.datetime(), note: z.string().nullable() }) }),
    defineJob({ name: 'tree', schema: node }),
    defineJob({
      name: 'legacy report',
      schema: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        required: ['range'],
        properties: { range: { $ref: '#/definitions/range' } },
        definitions: { range: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' } } } },
      },
    }),
    defineJob({ name: 'ping' }),
  ];
  const catalog = await JobCatalog.create(definitions.map((definition) => ({ definition, from: 'openapi-lint.test.ts' })));
  return catalog.names.map((name) => {
    const e = catalog.get(name)!;
    return { name, description: e.definition?.description, jsonSchema: e.jsonSchema };
  });
}

test('redocly lint: the document without known jobs has no error and no warning', () => {
  lint('plain', openApiDocument());
});

test('redocly lint: the document with known jobs (typed enqueue bodies) has no error and no warning', async () => {
  const jobs = await knownJobs();
  const doc = openApiDocument(jobs) as { components: { schemas: Record<string, unknown> } };
  // The jobs are in it, so the lint covered their schemas.
  for (const c of ['SendWelcomeData', 'SendWelcomeJobInput', 'OrderPlaceData', 'TreeData', 'LegacyReportData', 'PingJobInput', 'AnyJobInput']) assert.ok(doc.components.schemas[c], c);
  lint('jobs', doc);
});

test('the lint really runs: a document with a problem is reported', () => {
  const doc = openApiDocument() as { info: Record<string, unknown> };
  delete doc.info.license;
  assert.throws(() => lint('broken', doc), /info-license/);
});
