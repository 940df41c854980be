/**
 * For API tests: createApp on port 0 against a spawned Redis, with a fetch
 * helper, and the error log lines captured (a 500 is a bug a test should see).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { testConfig } from '../shared/testing/fixtures.ts';
import { closeRedis, createRedis, waitUntilReady } from '../shared/redis/connections.ts';
import { primaryStatus } from '../shared/redis/topology.ts';
import { QueueSet } from '../shared/queue/queue-set.ts';
import { Producer } from '../shared/queue/producer.ts';
import { Inspector } from '../shared/queue/inspector.ts';
import { Metrics } from '../shared/metrics.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import type { Config } from '../shared/config/config.ts';
import { loadPayloadSchemas } from '../shared/queue/payload-schemas.ts';
import { createApp } from '../server/app.ts';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface CallOptions {
  /** JSON-encoded unless raw is given. */
  body?: unknown;
  /** Sent as is. */
  raw?: string | Buffer;
  token?: string;
  headers?: Record<string, string>;
}

export interface Api {
  url: string;
  config: Readonly<Config>;
  inspector: Inspector;
  producer: Producer;
  /** Log lines at warn and above (JSON). */
  problems: Record<string, any>[];
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
  close(): Promise<void>;
}

export async function startApi(redisUrl: string, env: Record<string, string> = {}): Promise<Api> {
  const config = testConfig(redisUrl, env);
  const problems: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) problems.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: 'warn' }, sink);
  // As server/main.ts: payload schemas from HANDLERS (before any connection, so a bad module leaks none).
  const schemas = await loadPayloadSchemas(config.handlersPath);
  const conn = createRedis(config.redis, { role: 'producer', commandTimeoutMs: config.redisCommandTimeoutMs, logger });
  await waitUntilReady(conn, config.redis.redacted);
  const queues = new QueueSet(conn);
  const producer = new Producer(queues, {
    maxPayloadBytes: config.maxPayloadBytes,
    timeoutMs: config.redisCommandTimeoutMs,
    redisLabel: config.redis.redacted,
    maxBulk: config.bulkMax,
    validatePayload: schemas.size > 0 ? schemas.validator : undefined,
  });
  const inspector = new Inspector(queues);
  const schedules = new Schedules(queues, producer, { maxPayloadBytes: config.maxPayloadBytes });
  const metrics = new Metrics({ inspector, queueSet: queues, schedules });
  const app = createApp({ config, producer, inspector, logger, metrics, schedules, readiness: () => primaryStatus(conn, 1000) });
  const http = new HttpService({ handler: app, port: 0, host: '127.0.0.1', graceMs: 1000 });
  await http.start();
  const url = `http://127.0.0.1:${http.port}`;

  return {
    url,
    config,
    inspector,
    producer,
    problems,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | Buffer | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const res = await fetch(url + path, { method, headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    async close() {
      await http.stop();
      await queues.close();
      await closeRedis(conn);
    },
  };
}
