/**
 * Scopes on every route of the API (the OpenAPI document lists them; this
 * test fails when a route is added without a row here): each route answers
 * 403 FORBIDDEN naming the scope to a token without it, and lets a token
 * with it through. Tokens limited to a queue pattern (scope@emails.*) act on
 * matching queues only, lists show them only those queues, and schedules
 * count by the queue they belong to.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import type { Scope } from '../shared/config/config.ts';
import { openApiDocument } from '../server/openapi.ts';
import { startApi, type Answer, type Api } from './api-app.ts';

let redis: RedisProcess;
let api: Api;

const TOKENS = {
  full: 'full-token-0123456789',
  enqueue: 'enqueue-token-0123456789',
  read: 'read-token-0123456789',
  admin: 'admin-token-0123456789',
  emails: 'emails-token-0123456789',
};
const OK_Q = 'emails.welcome'; // matches emails.*
const OTHER_Q = 'billing';

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, {
    API_TOKENS: [
      TOKENS.full,
      `enq:${TOKENS.enqueue}:enqueue`,
      `reader:${TOKENS.read}:read`,
      `ops:${TOKENS.admin}:admin`,
      `emails:${TOKENS.emails}:enqueue@emails.*+read@emails.*+admin@emails.*`,
    ].join(','),
  });
  for (const q of [OK_Q, OTHER_Q]) {
    assert.equal((await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'noop', opts: { jobId: 'job-1' } }, token: TOKENS.full })).status, 201);
    await api.call('PUT', `/v1/schedules/sched-${q}`, { body: { queue: q, name: 'noop', cron: '0 0 * * *' }, token: TOKENS.full });
    BATCHES.set(q, (await api.call('POST', '/v1/batches', { body: { jobs: [{ queue: q, name: 'noop' }], open: true }, token: TOKENS.full })).json.id);
    WORKFLOWS.set(q, (await api.call('POST', '/v1/workflows', { body: { steps: { a: { queue: q, name: 'noop' } } }, token: TOKENS.full })).json.id);
  }
});
after(async () => {
  await api?.close();
  await redis?.stop();
});

interface Route {
  method: string;
  /** OpenAPI path template, for the coverage check. */
  template: string;
  scope: Scope | 'none';
  /** The concrete request for a queue (and the schedule of that queue). */
  path: (queue: string) => string;
  body?: (queue: string) => unknown;
  /** Before each call (a fresh schedule to delete, ...). */
  setup?: (queue: string) => Promise<void>;
  /** A list filtered by queue (not refused); default: the same path for every queue. */
  listing?: boolean;
}

/** An open batch per queue, for the batch routes (created before the tests). */
const BATCHES = new Map<string, string>();
const WORKFLOWS = new Map<string, string>();

const fresh = (id: string) => async (queue: string) => {
  await api.call('PUT', `/v1/schedules/${id}-${queue}`, { body: { queue, name: 'noop', cron: '0 0 * * *' }, token: TOKENS.full });
};

const ROUTES: Route[] = [
  { method: 'GET', template: '/v1/queues', scope: 'read', path: () => '/v1/queues' },
  { method: 'GET', template: '/v1/queues/{queue}', scope: 'read', path: (q) => `/v1/queues/${q}` },
  { method: 'POST', template: '/v1/queues/{queue}/jobs', scope: 'enqueue', path: (q) => `/v1/queues/${q}/jobs`, body: () => ({ name: 'noop' }) },
  { method: 'GET', template: '/v1/queues/{queue}/jobs', scope: 'read', path: (q) => `/v1/queues/${q}/jobs?state=waiting` },
  { method: 'POST', template: '/v1/queues/{queue}/jobs/bulk', scope: 'enqueue', path: (q) => `/v1/queues/${q}/jobs/bulk`, body: () => ({ jobs: [{ name: 'noop' }] }) },
  { method: 'GET', template: '/v1/queues/{queue}/jobs/{id}', scope: 'read', path: (q) => `/v1/queues/${q}/jobs/job-1` },
  { method: 'POST', template: '/v1/queues/{queue}/pause', scope: 'admin', path: (q) => `/v1/queues/${q}/pause` },
  { method: 'POST', template: '/v1/queues/{queue}/resume', scope: 'admin', path: (q) => `/v1/queues/${q}/resume` },
  { method: 'GET', template: '/v1/queues/{queue}/limits', scope: 'read', path: (q) => `/v1/queues/${q}/limits` },
  { method: 'PUT', template: '/v1/queues/{queue}/limits', scope: 'admin', path: (q) => `/v1/queues/${q}/limits`, body: () => ({ concurrency: 5 }) },
  { method: 'DELETE', template: '/v1/queues/{queue}/limits', scope: 'admin', path: (q) => `/v1/queues/${q}/limits` },
  { method: 'GET', template: '/v1/queues/{queue}/dead', scope: 'read', path: (q) => `/v1/queues/${q}/dead` },
  { method: 'DELETE', template: '/v1/queues/{queue}/dead', scope: 'admin', path: (q) => `/v1/queues/${q}/dead` },
  { method: 'POST', template: '/v1/queues/{queue}/dead/retry', scope: 'admin', path: (q) => `/v1/queues/${q}/dead/retry` },
  { method: 'DELETE', template: '/v1/queues/{queue}/dead/{id}', scope: 'admin', path: (q) => `/v1/queues/${q}/dead/nope` },
  { method: 'POST', template: '/v1/queues/{queue}/dead/{id}/retry', scope: 'admin', path: (q) => `/v1/queues/${q}/dead/nope/retry` },
  { method: 'GET', template: '/v1/schedules', scope: 'read', path: () => '/v1/schedules' },
  { method: 'GET', template: '/v1/schedules/{id}', scope: 'read', path: (q) => `/v1/schedules/sched-${q}` },
  { method: 'PUT', template: '/v1/schedules/{id}', scope: 'admin', path: (q) => `/v1/schedules/put-${q}`, body: (q) => ({ queue: q, name: 'noop', cron: '0 1 * * *' }) },
  { method: 'DELETE', template: '/v1/schedules/{id}', scope: 'admin', path: (q) => `/v1/schedules/del-${q}`, setup: fresh('del') },
  { method: 'POST', template: '/v1/schedules/{id}/pause', scope: 'admin', path: (q) => `/v1/schedules/sched-${q}/pause` },
  { method: 'POST', template: '/v1/schedules/{id}/resume', scope: 'admin', path: (q) => `/v1/schedules/sched-${q}/resume` },
  { method: 'POST', template: '/v1/schedules/{id}/run', scope: 'enqueue', path: (q) => `/v1/schedules/sched-${q}/run` },
  { method: 'POST', template: '/v1/batches', scope: 'enqueue', path: () => '/v1/batches', body: (q) => ({ jobs: [{ queue: q, name: 'noop' }] }), listing: false },
  { method: 'GET', template: '/v1/batches/{id}', scope: 'read', path: (q) => `/v1/batches/${BATCHES.get(q)}` },
  { method: 'POST', template: '/v1/batches/{id}/jobs', scope: 'enqueue', path: (q) => `/v1/batches/${BATCHES.get(q)}/jobs`, body: (q) => ({ jobs: [{ queue: q, name: 'noop' }] }) },
  { method: 'POST', template: '/v1/batches/{id}/seal', scope: 'enqueue', path: (q) => `/v1/batches/${BATCHES.get(q)}/seal` },
  { method: 'POST', template: '/v1/workflows', scope: 'enqueue', path: () => '/v1/workflows', body: (q) => ({ steps: { a: { queue: q, name: 'noop' } } }), listing: false },
  { method: 'GET', template: '/v1/workflows/{id}', scope: 'read', path: (q) => `/v1/workflows/${WORKFLOWS.get(q)}` },
  // No HISTORY_URL here: an allowed call answers 404 HISTORY_NOT_CONFIGURED, a refused one 403 first.
  { method: 'GET', template: '/v1/history', scope: 'read', path: (q) => `/v1/history?queue=${q}` },
  { method: 'GET', template: '/v1/queues/{queue}/jobs/{id}/timeline', scope: 'read', path: (q) => `/v1/queues/${q}/jobs/job-1/timeline` },
  { method: 'GET', template: '/v1/openapi.json', scope: 'none', path: () => '/v1/openapi.json' },
  { method: 'GET', template: '/healthz', scope: 'none', path: () => '/healthz' },
  { method: 'GET', template: '/readyz', scope: 'none', path: () => '/readyz' },
  { method: 'GET', template: '/metrics', scope: 'none', path: () => '/metrics' },
];

async function call(r: Route, queue: string, token: string | undefined): Promise<Answer> {
  await r.setup?.(queue);
  return api.call(r.method, r.path(queue), { token, body: r.body?.(queue) });
}

const label = (r: Route, who: string, q: string) => `${r.method} ${r.path(q)} as ${who}`;

function assertForbidden(a: Answer, scope: string, why: string): void {
  assert.equal(a.status, 403, `${why}: ${a.status} ${a.text}`);
  assert.equal(a.json?.error?.code, 'FORBIDDEN', why);
  assert.match(a.json.error.message, new RegExp(`"${scope}"`), `${why}: the message names the scope`);
}

function assertAllowed(a: Answer, why: string): void {
  assert.ok(a.status !== 401 && a.status !== 403, `${why}: ${a.status} ${a.text}`);
  assert.ok(a.status < 500, `${why}: ${a.status} ${a.text}`);
}

test('the table covers every route of the OpenAPI document', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${p}`));
  const covered = new Set(ROUTES.map((r) => `${r.method} ${r.template}`));
  assert.deepEqual(documented.filter((d) => !covered.has(d)), [], 'routes without a scope test');
  assert.ok(documented.length >= 20);
});

for (const holder of ['enqueue', 'read', 'admin'] as const) {
  test(`a token with only "${holder}" is let through on the ${holder} routes and gets 403 naming the scope on the others`, async () => {
    const token = TOKENS[holder];
    for (const r of ROUTES) {
      const a = await call(r, OTHER_Q, token);
      const why = label(r, holder, OTHER_Q);
      if (r.scope === 'none' || r.scope === holder) assertAllowed(a, why);
      else assertForbidden(a, r.scope, why);
    }
  });
}

test('a bare token passes every route; no token passes only the probes, /metrics and the OpenAPI document', async () => {
  for (const r of ROUTES) {
    assertAllowed(await call(r, OTHER_Q, TOKENS.full), label(r, 'full', OTHER_Q));
    const anon = await call(r, OTHER_Q, undefined);
    if (r.scope === 'none') assertAllowed(anon, label(r, 'nobody', OTHER_Q));
    else assert.equal(anon.status, 401, label(r, 'nobody', OTHER_Q));
  }
});

test('a token limited to emails.* acts on emails.* queues and their schedules, and gets 403 naming the pattern elsewhere', async () => {
  for (const r of ROUTES) {
    if (r.scope === 'none') continue;
    assertAllowed(await call(r, OK_Q, TOKENS.emails), label(r, 'emails', OK_Q));
    const listing = r.listing ?? r.path(OTHER_Q) === r.path(OK_Q); // /v1/queues, /v1/schedules: filtered, not refused
    const a = await call(r, OTHER_Q, TOKENS.emails);
    if (listing) {
      assertAllowed(a, label(r, 'emails', OTHER_Q));
      continue;
    }
    assertForbidden(a, r.scope, label(r, 'emails', OTHER_Q));
    assert.match(a.json.error.message, /emails\.\*/, 'the message names the pattern');
    assert.match(a.json.error.message, /billing/, 'and the queue');
  }
});

test('lists show a queue-limited token only the queues and schedules its pattern matches', async () => {
  const queues = await api.call('GET', '/v1/queues', { token: TOKENS.emails });
  assert.deepEqual(queues.json.queues.map((q: { name: string }) => q.name), [OK_Q]);
  const all = await api.call('GET', '/v1/queues', { token: TOKENS.read });
  assert.deepEqual(all.json.queues.map((q: { name: string }) => q.name).sort(), [OTHER_Q, OK_Q].sort());
  const schedules = await api.call('GET', '/v1/schedules', { token: TOKENS.emails });
  assert.ok(schedules.json.schedules.length >= 1);
  assert.ok(schedules.json.schedules.every((s: { queue: string }) => s.queue === OK_Q), JSON.stringify(schedules.json));
});

test('a queue-limited admin cannot move a schedule of its queue to another queue, nor take over another queue\'s schedule', async () => {
  const move = await api.call('PUT', `/v1/schedules/sched-${OK_Q}`, { body: { queue: OTHER_Q, name: 'noop', cron: '0 0 * * *' }, token: TOKENS.emails });
  assertForbidden(move, 'admin', 'move to billing');
  const takeOver = await api.call('PUT', `/v1/schedules/sched-${OTHER_Q}`, { body: { queue: OK_Q, name: 'noop', cron: '0 0 * * *' }, token: TOKENS.emails });
  assertForbidden(takeOver, 'admin', 'take over billing\'s schedule');
  const still = await api.call('GET', `/v1/schedules/sched-${OTHER_Q}`, { token: TOKENS.full });
  assert.equal(still.json.queue, OTHER_Q, 'the refused request changed nothing');
});
