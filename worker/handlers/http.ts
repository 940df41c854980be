/**
 * The built-in `http` handler: webhook delivery. A non-2xx answer or a timeout
 * fails the attempt (so it is retried, then dead-lettered).
 *
 * Safety: the target host must match HTTP_ALLOWED_HOSTS, and the address it
 * resolves to is checked at connect time (no DNS rebinding past the check):
 * link-local and cloud-metadata addresses are always refused. Redirects are
 * not followed (a 3xx is a failure), and the body read is capped.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConveyorError } from '../../shared/errors.ts';
import type { Handler } from '../../shared/runtime/handler.ts';
import { checkHost, guardedLookup, type Resolver } from './http-guard.ts';

export { hostAllowed, isForbiddenAddress } from './http-guard.ts';

/** Read at most this much of an answer (the rest is not downloaded), keep this much in the job's result. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
export const KEPT_BODY_CHARS = 2048;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface HttpJobData {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
}

export interface HttpHandlerOptions {
  /** DNS resolution (tests inject one that never leaves loopback). */
  resolve?: Resolver;
}

export function createHttpHandler(allowedHosts: readonly string[], options: HttpHandlerOptions = {}): Handler {
  // Checked when the socket connects, on the address actually used.
  const lookup = guardedLookup(options.resolve);
  return async (data: HttpJobData, ctx) => {
    if (!data || typeof data !== 'object' || typeof data.url !== 'string') {
      throw new ConveyorError('INVALID_REQUEST', 'http job data needs {url}');
    }
    let url: URL;
    try {
      url = new URL(data.url);
    } catch {
      throw new ConveyorError('INVALID_REQUEST', `http: "${data.url}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConveyorError('INVALID_REQUEST', `http: scheme ${url.protocol} is not http or https`);
    checkHost(url.hostname, allowedHosts);
    if (data.method !== undefined && (typeof data.method !== 'string' || !/^[A-Za-z]+$/.test(data.method))) {
      throw new ConveyorError('INVALID_REQUEST', 'http: method must be a word such as GET or POST');
    }
    const given = data.headers ?? {};
    if (typeof given !== 'object' || Array.isArray(given) || Object.values(given).some((v) => typeof v !== 'string' && typeof v !== 'number')) {
      throw new ConveyorError('INVALID_REQUEST', 'http: headers must be an object of strings');
    }

    const method = (data.method ?? (data.body === undefined ? 'GET' : 'POST')).toUpperCase();
    const headers: Record<string, string> = { 'user-agent': 'conveyor-webhook/1', ...given };
    let body: string | undefined;
    if (data.body !== undefined) {
      body = typeof data.body === 'string' ? data.body : JSON.stringify(data.body);
      if (typeof data.body !== 'string' && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    headers['x-conveyor-job-id'] = ctx.id;
    headers['x-conveyor-attempt'] = String(ctx.attempt);
    const timeoutMs = typeof data.timeoutMs === 'number' && data.timeoutMs > 0 ? data.timeoutMs : DEFAULT_TIMEOUT_MS;
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);

    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const timedOutOr = (err: Error): Error =>
        signal.aborted && !ctx.signal.aborted ? new Error(`http: ${method} ${url.origin}${url.pathname} timed out after ${timeoutMs} ms`) : err;
      const req = send(url, { method, headers, signal, lookup: lookup as never }, (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let capped = false;
        const done = () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        response.on('data', (c: Buffer) => {
          if (capped) return;
          chunks.push(c.subarray(0, MAX_RESPONSE_BYTES - size));
          size += c.length;
          if (size >= MAX_RESPONSE_BYTES) {
            // Enough: the status decides, not a body someone made endless.
            capped = true;
            done();
            response.destroy();
          }
        });
        response.on('end', done);
        response.on('close', () => {
          if (!response.complete && !capped) reject(timedOutOr(new Error(`http: ${method} ${url.origin}${url.pathname}: the answer was cut off`)));
        });
        response.on('error', () => {}); // 'close' reports it
      });
      req.on('error', (err) => reject(timedOutOr(err)));
      req.end(body);
    });
    if (res.status < 200 || res.status >= 300) {
      throw new ConveyorError('HTTP_STATUS', `http: ${method} ${url.origin}${url.pathname} answered ${res.status}`, { status: res.status });
    }
    return { status: res.status, body: res.body.slice(0, KEPT_BODY_CHARS) };
  };
}
