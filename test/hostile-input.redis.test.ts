/**
 * Hostile input: thousands of generated malformed requests (bad JSON, wrong
 * types, huge strings, deep nesting, unicode edge cases, prototype-pollution
 * keys, oversized and compressed bodies, bad tokens, path traversal in names,
 * wrong methods and content types) against the real API on a spawned Redis.
 * Every answer is a 4xx JSON error with a code (never a 5xx, never a hang),
 * nothing is logged as a bug, and Redis is byte for byte as before: the same
 * keys, each with the same DUMP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { startApi, type Api } from './api-app.ts';

const FULL = 'hostile-full-token-123456';
const READ = 'hostile-read-token-123456';
const Q = 'victim';
const MAX_PAYLOAD = 16 * 1024;
/** Body limit of the enqueue routes for MAX_PAYLOAD (server/routes/jobs.ts bodyLimitBytes). */
const BODY_LIMIT = MAX_PAYLOAD * 4 + 1024 * 1024;

let redis: RedisProcess;
let api: Api;
let client: Redis;

/** Every key's DUMP, hashed: the content of the whole Redis. */
async function snapshot(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const dump = await client.dumpBuffer(k);
      out.set(k, createHash('sha256').update(dump ?? Buffer.alloc(0)).digest('hex'));
    }
  } while (cursor !== '0');
  return out;
}

before(async () => {
  redis = await startRedis();
  client = redis.client();
  api = await startApi(redis.url, { API_TOKENS: `${FULL},reader:${READ}:read`, MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD) });
  // Something to protect: jobs, a dead letter, a schedule, a paused queue.
  await api.producer.enqueueBulk(Q, [{ name: 'noop', data: { keep: 1 } }, { name: 'noop', opts: { jobId: 'kept-job' } }]);
  await api.call('PUT', '/v1/schedules/nightly', { token: FULL, body: { queue: Q, name: 'noop', cron: '0 3 * * *' } });
  await api.call('POST', '/v1/queues/paused-q/pause', { token: FULL });
});
after(async () => {
  await api?.close();
  await redis?.stop();
});

// --- a small deterministic generator -------------------------------------------------------------

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = 20261122;
const rand = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

interface Req {
  kind: string;
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  token?: string | null; // null: no Authorization header
}

const JSON_CT = { 'content-type': 'application/json' };

/** Strings that are not valid queue names, including traversal and unicode. */
const BAD_QUEUES = [
  '%2e%2e%2f%2e%2e%2fetc', '..%2F..%2Fpasswd', '%252e%252e%252f', 'a%2Fb', '%00', 'q%00x', '%20', 'a%20b', 'ca%C3%A9', '%F0%9F%98%80',
  '%E2%80%AE', '%E2%80%8B', '%ED%A0%80', '%C0%AE%C0%AE', 'x'.repeat(65), 'q*', 'q%3Aname', '%7B%7D', 'a%5Cb', '%0d%0aSet-Cookie:x',
  '%2e%2e%5c%2e%2e', '%u002e', 'q%27%20OR%201%3D1', '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D', 'conveyor%3Aqueues',
];

/** Job names that must be refused (control characters, lone surrogates, blanks, too long, wrong types). */
const BAD_NAMES: unknown[] = [
  '', ' ', '\t', 'a\u0000b', '\u0007', 'x\u0085y', 'a\nb', '\u001b[31m', '\ud800', 'a\udfffb', '\ud83d', 'x'.repeat(129), 'é'.repeat(200),
  5, 0, -1, 1.5, true, false, null, [], ['noop'], {}, { toString: 'noop' },
];

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString'];

function badOpts(): unknown {
  return pick<unknown>([
    { delay: '10' }, { delay: -1 }, { delay: 1.5 }, { delay: 1e308 }, { delay: null }, { priority: 'high' }, { priority: -5 }, { priority: 3e6 },
    { attempts: 0 }, { attempts: 1001 }, { attempts: '3' }, { backoff: { type: 'linear', delay: 10 } }, { backoff: { type: 'fixed' } },
    { backoff: 'exponential' }, { jobId: '12345' }, { jobId: 'meta' }, { jobId: 'wait' }, { jobId: 'a:b' }, { jobId: '' }, { jobId: 'x'.repeat(129) },
    { jobId: 7 }, { jobId: '\u0000' }, { jobId: '\ud800' }, { timeout: 0 }, { timeout: 'soon' }, { removeOnComplete: true }, { lifo: true },
    { repeat: { every: 1 } }, { minReplicas: -1 }, { minReplicas: 101 }, [], 'opts', 42, { [pick(POLLUTION_KEYS)]: { delay: 1 } },
  ]);
}

function nested(depth: number, leaf: unknown = 1): string {
  const open = pick(['[', '{"a":']);
  return open === '[' ? '['.repeat(depth) + JSON.stringify(leaf) + ']'.repeat(depth) : '{"a":'.repeat(depth) + JSON.stringify(leaf) + '}'.repeat(depth);
}

function enqueueBody(): string | Buffer {
  const kind = int(0, 13);
  switch (kind) {
    case 0: // wrong-typed or invalid name
      return JSON.stringify({ name: pick(BAD_NAMES), data: { a: 1 } });
    case 1: // bad options with a good name
      return JSON.stringify({ name: 'noop', opts: badOpts() });
    case 2: // unknown or pollution keys at the top level
      return `{"name":"noop","${pick([...POLLUTION_KEYS, 'extra', 'queue', 'id', 'Name'])}":{"admin":true}}`;
    case 3: // not an object
      return pick(['[]', '[{"name":"noop"}]', '"noop"', '42', 'null', 'true', '{}', '{"data":{}}', '{"opts":{}}']);
    case 4: // broken JSON
      return pick([
        '{', '{"name":', '{"name":"noop"', '{"name":"noop",}', "{'name':'noop'}", '{"name":noop}', '{"name":"noop"}}', '{"name":"noop"} x',
        '{"name":NaN}', '{"name":Infinity}', '{"name":"noop" /* c */}', '\ufeff{"name":"noop"', '{"name":"\\x41"}', '{"name":"\\u12"}',
        '{"name":"noop",,"data":1}', '{"name":01}', '{"name":"a\u0000b"', ' ', '\n\n', '{"a":[1,2,}', '{"name":"noop","data":[1,2}',
      ]);
    case 5: // deep nesting (over MAX_JSON_DEPTH, some far over), with a name that would be valid
      return `{"name":"noop","data":${nested(pick([64, 65, 100, 1000, 10_000, 100_000]))}}`;
    case 6: // huge strings in names and ids
      return JSON.stringify({ name: pick(['n', 'é', '😀', '\u200b']).repeat(int(129, 20_000)), opts: { jobId: 'x' } });
    case 7: // payload over MAX_PAYLOAD_BYTES (413)
      return JSON.stringify({ name: 'noop', data: 'x'.repeat(MAX_PAYLOAD + int(1, 5000)) });
    case 8: // a lone surrogate or control character escaped in the name
      return `{"name":"${pick(['\\ud800', '\\udc00x', 'a\\u0000', '\\u001f', '\\u0085', '\\ud83d\\ud83d'])}"}`;
    case 9: // invalid UTF-8 bytes in an otherwise valid body
      return Buffer.concat([Buffer.from('{"name":"no'), Buffer.from([pick([0xff, 0xc0, 0xed, 0x80, 0xfe])]), Buffer.from('op"}')]);
    case 10: // pollution inside opts or backoff
      return `{"name":"noop","opts":{"backoff":{"type":"fixed","delay":1,"${pick(POLLUTION_KEYS)}":{"x":1}}}}`;
    case 11: // numbers at the edges
      return `{"name":"noop","opts":{"${pick(['delay', 'priority', 'attempts', 'timeout'])}":${pick(['1e400', '-0.5', '9007199254740993', '-9007199254740993', '-1e-9', '"1"', '[1]', '{"$gt":0}'])}}}`;
    case 12: // duplicate keys, the later one invalid
      return '{"name":"noop","name":7}';
    default: // mixed: valid data, invalid name type
      return JSON.stringify({ name: { $ne: null }, data: { __proto__: { polluted: 1 } } });
  }
}

function bulkBody(): string | Buffer {
  const kind = int(0, 7);
  const good = () => ({ name: 'noop', data: { i: int(0, 9) } });
  switch (kind) {
    case 0: // one bad job among good ones: atomic, nothing written
      return JSON.stringify({ jobs: [good(), good(), { name: pick(BAD_NAMES) }, good()] });
    case 1:
      return JSON.stringify({ jobs: [good(), { name: 'noop', opts: badOpts() }] });
    case 2: // not an array, empty, over BULK_MAX
      return pick([JSON.stringify({ jobs: {} }), JSON.stringify({ jobs: [] }), JSON.stringify({ jobs: 'noop' }), JSON.stringify({ jobs: Array.from({ length: 1001 }, good) })]);
    case 3: // unknown wrapper keys
      return JSON.stringify({ jobs: [good()], [pick(['extra', '__proto__', 'queue', 'atomic'])]: true });
    case 4: // payloads adding up past 4 × MAX_PAYLOAD_BYTES
      return JSON.stringify({ jobs: Array.from({ length: 5 }, () => ({ name: 'noop', data: 'y'.repeat(MAX_PAYLOAD - 100) })) });
    case 5:
      return `{"jobs":[${nested(int(70, 3000))}]}`;
    case 6:
      return pick(['{"jobs":[', '{"jobs":[{"name":"noop"}', '[{"name":"noop"}]', '{"jobs":null}']);
    default:
      return JSON.stringify({ jobs: [{ ...good(), extra: 1 }] });
  }
}

function scheduleBody(): string {
  const kind = int(0, 5);
  switch (kind) {
    case 0:
      return JSON.stringify({ queue: pick(['', '../x', 'a b', 'x'.repeat(65), 7, 'é']), name: 'noop', cron: '* * * * *' });
    case 1:
      return JSON.stringify({ queue: Q, name: 'noop', cron: pick(['', '* * *', '61 * * * *', 'every minute', '* * * * * * *', 7, '@reboot']) });
    case 2:
      return JSON.stringify({ queue: Q, name: 'noop', cron: '* * * * *', tz: pick(['Mars/Olympus', '', 'UTC+25', '../../etc/localtime']) });
    case 3:
      return JSON.stringify({ queue: Q, name: pick(BAD_NAMES), cron: '* * * * *' });
    case 4:
      return `{"queue":"${Q}","name":"noop","cron":"* * * * *","data":${nested(int(70, 5000))}}`;
    default:
      return JSON.stringify({ queue: Q, name: 'noop', cron: '* * * * *', [pick(POLLUTION_KEYS)]: { x: 1 } });
  }
}

function badToken(): string | null {
  return pick<string | null>([
    null, '', 'x', 'wrong-token-123456', FULL.slice(0, -1), `${FULL}x`, FULL.toUpperCase(), 'é'.repeat(40), 'A'.repeat(8000),
    `${READ} ${FULL}`, `${FULL}\u00e9`, '%00', '../../etc/passwd', "' OR '1'='1",
  ]);
}

const READ_PATHS = () => [
  `/v1/queues/${pick(BAD_QUEUES)}`,
  `/v1/queues/${pick(BAD_QUEUES)}/jobs?state=waiting`,
  `/v1/queues/${Q}/jobs?state=${pick(['', 'all', 'WAITING', 'waiting&state=active', '%00', 'dead%20'])}`,
  `/v1/queues/${Q}/jobs?state=waiting&limit=${pick(['0', '-1', '501', '1e3', 'ten', '99999999999999999999', '1&limit=2'])}`,
  `/v1/queues/${Q}/jobs?state=waiting&offset=${pick(['-1', '1.5', 'x', '1000000001'])}`,
  `/v1/queues/${Q}/dead?limit=${pick(['0', 'x', '-3'])}`,
  `/v1/queues/${Q}/jobs/${pick(['%00', 'meta', 'wait', '%2e%2e%2fx', 'x'.repeat(300), '%0a', 'id%7F'])}`,
  `/v1/queues/${pick(BAD_QUEUES)}/dead`,
  `/v1/schedules/${pick(['%00', 'x'.repeat(300), '%0d%0a', 'a%2Fb', '%E2%80%AE'])}`,
  `/v1/schedules?queue=${pick(['..%2F', 'x'.repeat(70), 'a b'])}`,
  `/v1/${pick(['..%2F..%2Fetc%2Fpasswd', 'queues%2F', 'queues/victim/jobs/kept-job/extra', 'admin', '%2e%2e%2fmetrics', 'queues/victim/dead/%2e%2e%2f/retry'])}`,
];

function generate(n: number): Req[] {
  const reqs: Req[] = [];
  const add = (r: Req) => reqs.push(r);
  while (reqs.length < n) {
    const cat = int(0, 11);
    switch (cat) {
      case 0:
      case 1:
      case 2:
        add({ kind: 'enqueue body', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: enqueueBody(), headers: JSON_CT, token: FULL });
        break;
      case 3:
        add({ kind: 'bulk body', method: 'POST', path: `/v1/queues/${Q}/jobs/bulk`, body: bulkBody(), headers: JSON_CT, token: FULL });
        break;
      case 4: // a valid body to a bad queue name (traversal, unicode, too long)
        add({ kind: 'bad queue name', method: 'POST', path: `/v1/queues/${pick(BAD_QUEUES)}/jobs${pick(['', '/bulk'])}`, body: '{"name":"noop","jobs":[{"name":"noop"}]}', headers: JSON_CT, token: FULL });
        break;
      case 5: // valid requests with a bad token, or the read token on writes
        add({
          kind: 'bad token',
          method: pick(['POST', 'DELETE']),
          path: pick([`/v1/queues/${Q}/jobs`, `/v1/queues/${Q}/dead`, `/v1/queues/${Q}/pause`, '/v1/schedules/nightly', `/v1/queues/${Q}/dead/retry`]),
          body: '{"name":"noop"}',
          headers: JSON_CT,
          token: rand() < 0.8 ? badToken() : READ,
        });
        break;
      case 6: // content types and encodings
        add({
          kind: 'content type',
          method: 'POST',
          path: `/v1/queues/${Q}/jobs`,
          body: pick(['{"name":"noop"}', 'name=noop', '<job name="noop"/>']),
          headers: pick<Record<string, string>>([
            {}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'multipart/form-data; boundary=x' },
            { 'content-type': 'application/json; charset=latin1' }, { 'content-type': 'application/json; charset=utf-16' }, { 'content-type': 'application/xml' },
            { 'content-type': 'application/json', 'content-encoding': 'br' }, { 'content-type': 'application/json', 'content-encoding': 'compress' },
            { 'content-type': 'application/json', 'content-encoding': 'gzip' }, { 'content-type': 'application/json', 'content-encoding': 'deflate' },
          ]),
          token: FULL,
        });
        break;
      case 7: // schedules
        add({ kind: 'schedule body', method: 'PUT', path: `/v1/schedules/${pick(['nightly', 'new-one', 'x'.repeat(200), '%00'])}`, body: scheduleBody(), headers: JSON_CT, token: FULL });
        break;
      case 8: // wrong methods
        add({ kind: 'method', method: pick(['PATCH', 'PUT', 'DELETE']), path: pick(['/v1/queues', `/v1/queues/${Q}/jobs/kept-job`, `/v1/queues/${Q}/jobs/bulk`, '/healthz', '/metrics', '/v1/openapi.json', `/v1/queues/${Q}/pause`]), token: FULL, ...(rand() < 0.5 ? {} : { body: '{}', headers: JSON_CT }) });
        break;
      case 9: // reads with bad names, ids and query strings
        add({ kind: 'bad read', method: 'GET', path: pick(READ_PATHS()), token: FULL });
        break;
      case 10: // ids of dead letters and schedules on admin routes, traversal included
        add({
          kind: 'bad id',
          method: pick(['POST', 'DELETE']),
          // (a bare %2e%2e segment is resolved by the client like "..": it would name another route)
          path: pick([`/v1/queues/${Q}/dead/${pick(['%00', '%2e%2e%2f%2e%2e', 'meta', 'x'.repeat(300), '%0a'])}${pick(['', '/retry'])}`, `/v1/schedules/${pick(['%00', 'x'.repeat(300), '%0a', '%E2%80%AE'])}${pick(['', '/pause', '/run'])}`]),
          token: FULL,
        });
        break;
      default: // unknown routes
        add({ kind: 'unknown route', method: pick(['GET', 'POST']), path: pick(['/', '/admin', '/v2/queues', '/v1/queues/victim/jobs/kept-job/logs', '/.env', '/v1/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/favicon.ico']), token: pick([FULL, null]) });
    }
  }
  return reqs;
}

/** A few requests that are hostile in size: each is sent once, not generated by the thousand. */
function heavy(): Req[] {
  const big = Buffer.alloc(BODY_LIMIT + 1024, 'a');
  const bomb = gzipSync(Buffer.from(`{"name":"noop","data":"${'z'.repeat(BODY_LIMIT * 3)}"}`));
  return [
    { kind: 'oversized body', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: big, headers: JSON_CT, token: FULL },
    { kind: 'oversized body', method: 'POST', path: `/v1/queues/${Q}/jobs/bulk`, body: Buffer.concat([Buffer.from('{"jobs":['), big]), headers: JSON_CT, token: FULL },
    { kind: 'oversized body', method: 'PUT', path: '/v1/schedules/nightly', body: big, headers: JSON_CT, token: FULL },
    { kind: 'gzip bomb', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: bomb, headers: { ...JSON_CT, 'content-encoding': 'gzip' }, token: FULL },
    { kind: 'broken gzip', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]), headers: { ...JSON_CT, 'content-encoding': 'gzip' }, token: FULL },
    { kind: 'broken deflate', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: Buffer.from('not deflate at all'), headers: { ...JSON_CT, 'content-encoding': 'deflate' }, token: FULL },
    { kind: 'deep nesting', method: 'POST', path: `/v1/queues/${Q}/jobs`, body: `{"name":"noop","data":${'['.repeat(500_000)}${']'.repeat(500_000)}}`, headers: JSON_CT, token: FULL },
    { kind: 'huge token', method: 'GET', path: '/v1/queues', token: 'T'.repeat(12_000) },
  ];
}

interface Outcome {
  req: Req;
  status: number;
  code: string | undefined;
  problem: string | undefined;
}

async function send(r: Req): Promise<Outcome> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.token !== null && r.token !== undefined) headers.authorization = `Bearer ${r.token}`;
  let status = 0;
  let text = '';
  try {
    const res = await fetch(api.url + r.path, {
      method: r.method,
      headers,
      body: r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : new Uint8Array(r.body),
      signal: AbortSignal.timeout(15_000),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    return { req: r, status: 0, code: undefined, problem: `no answer: ${(err as Error).message}` };
  }
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {
    return { req: r, status, code: undefined, problem: `not JSON: ${text.slice(0, 80)}` };
  }
  if (typeof code !== 'string') return { req: r, status, code, problem: `no error code: ${text.slice(0, 80)}` };
  if (status < 400 || status >= 500) return { req: r, status, code, problem: `status ${status} (${code})` };
  return { req: r, status, code, problem: undefined };
}

async function sendAll(reqs: Req[], concurrency: number): Promise<Outcome[]> {
  const out: Outcome[] = new Array(reqs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const i = next++;
        out[i] = await send(reqs[i]!);
      }
    }),
  );
  return out;
}

const describe = (o: Outcome) => `${o.req.kind}: ${o.req.method} ${o.req.path.slice(0, 100)} ${typeof o.req.body === 'string' ? o.req.body.slice(0, 100) : o.req.body ? `<${o.req.body.length} bytes>` : ''} -> ${o.problem}`;

test(`2,400 generated malformed requests (seed ${SEED}): all 4xx JSON with a code, no bug logged, Redis unchanged`, { timeout: 120_000 }, async () => {
  const before = await snapshot();
  assert.ok(before.size >= 5, `seeded keys: ${before.size}`);
  const started = Date.now();
  const reqs = [...generate(2400), ...heavy()];
  const outcomes = await sendAll(reqs, 8);
  const bad = outcomes.filter((o) => o.problem);
  assert.deepEqual(bad.slice(0, 15).map(describe), [], `${bad.length} of ${outcomes.length} answers were not a 4xx JSON error`);
  const bugs = api.problems.filter((p) => p.level >= 50);
  assert.deepEqual(bugs.map((b) => `${b.msg} ${b.path ?? ''} ${String(b.err).slice(0, 200)}`), [], 'errors logged (500s)');
  const after = await snapshot();
  const changed = [...before].filter(([k, h]) => after.get(k) !== h).map(([k]) => k);
  const added = [...after.keys()].filter((k) => !before.has(k));
  assert.deepEqual({ changed, added }, { changed: [], added: [] }, 'Redis content');
  assert.equal(after.size, before.size, 'the number of keys');
  // No prototype was polluted along the way.
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Every kind was exercised, and the codes are the expected vocabulary.
  const kinds = new Set(outcomes.map((o) => o.req.kind));
  assert.ok(kinds.size >= 14, [...kinds].join(', '));
  const codes = new Map<string, number>();
  for (const o of outcomes) codes.set(o.code!, (codes.get(o.code!) ?? 0) + 1);
  for (const c of ['INVALID_JSON', 'INVALID_REQUEST', 'INVALID_QUEUE_NAME', 'INVALID_JOB_NAME', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'METHOD_NOT_ALLOWED', 'NOT_FOUND']) {
    assert.ok(codes.has(c), `some answers are ${c}: ${JSON.stringify(Object.fromEntries(codes))}`);
  }
  process.stderr.write(`hostile-input: ${outcomes.length} requests in ${Date.now() - started} ms; codes ${JSON.stringify(Object.fromEntries(codes))}\n`);
});

test('a deep body names MAX_JSON_DEPTH and an oversized one names its limit', async () => {
  const deep = await api.call('POST', `/v1/queues/${Q}/jobs`, { raw: `{"name":"noop","data":${'['.repeat(80)}${']'.repeat(80)}}`, token: FULL, headers: JSON_CT });
  assert.equal(deep.status, 400);
  assert.match(deep.json.error.message, /MAX_JSON_DEPTH=64/);
  const big = await api.call('POST', `/v1/queues/${Q}/jobs`, { raw: Buffer.alloc(BODY_LIMIT + 1, 'a'), token: FULL, headers: JSON_CT });
  assert.equal(big.status, 413);
  assert.match(big.json.error.message, new RegExp(String(BODY_LIMIT)));
  const data = await api.call('POST', `/v1/queues/${Q}/jobs`, { body: { name: 'noop', data: 'x'.repeat(MAX_PAYLOAD + 1) }, token: FULL });
  assert.equal(data.status, 413);
  assert.match(data.json.error.message, /MAX_PAYLOAD_BYTES allows 16384/);
});
