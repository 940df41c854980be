/**
 * For API tests: createApp on port 0 against a spawned Redis, with a fetch
 * helper, and the error log lines captured (a 500 is a bug a test should see).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { testEnv } from '../shared/testing/fixtures.ts';
import { Conveyor, coreOf } from '../shared/conveyor.ts';
import type { Producer } from '../shared/queue/producer.ts';
import type { Inspector } from '../shared/queue/inspector.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import type { Config } from '../shared/config/config.ts';
import { createApp } from '../server/app.ts';
import { apiDeps } from '../server/api-router.ts';

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
  conveyor: Conveyor;
  inspector: Inspector;
  producer: Producer;
  /** Log lines at warn and above (JSON). */
  problems: Record<string, any>[];
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
  close(): Promise<void>;
}

export async function startApi(redisUrl: string, env: Record<string, string> = {}, opts: { now?: () => number } = {}): Promise<Api> {
  const problems: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) problems.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: 'warn' }, sink);
  // As the server does (server/standalone.ts): a Conveyor from the environment (payload schemas from
  // HANDLERS before any connection, so a bad module leaks none), the API app on its parts.
  const conveyor = await Conveyor.fromEnv(testEnv(redisUrl, env), { logger, name: 'conveyor-test-api' });
  const core = coreOf(conveyor);
  const { config, inspector, producer } = core;
  const app = createApp({ ...apiDeps(conveyor, { logger }), now: opts.now });
  const http = new HttpService({ handler: app, port: 0, host: '127.0.0.1', graceMs: 1000 });
  await http.start();
  const url = `http://127.0.0.1:${http.port}`;

  return {
    url,
    config,
    conveyor,
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
      await conveyor.close();
    },
  };
}
