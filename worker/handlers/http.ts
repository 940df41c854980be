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
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { ConveyorError } from '#shared/errors.ts';
import type { Handler } from '#shared/runtime/handler.ts';

const MAX_RESPONSE_BYTES = 1024 * 1024;
const KEPT_BODY_CHARS = 2048;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface HttpJobData {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
}

/** 169.254.0.0/16, fe80::/10, fd00:ec2::254 and the IPv4-mapped forms: never a webhook target. */
export function isForbiddenAddress(address: string): boolean {
  let a = address.toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number);
    return x === 169 && y === 254;
  }
  if (isIP(a) === 6) {
    if (/^fe[89ab][0-9a-f]:/.test(a)) return true; // fe80::/10
    const compact = a.replace(/(^|:)0+(?=[0-9a-f])/g, '$1');
    return compact === 'fd00:ec2::254' || compact === 'fd00:ec2:0:0:0:0:0:254';
  }
  return false;
}

/** `*` allows all; `*.example.com` allows subdomains (not example.com itself); otherwise exact. */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return patterns.some((p) => {
    const pat = p.toLowerCase().replace(/^\[|\]$/g, '');
    if (pat === '*') return true;
    if (pat.startsWith('*.')) return h.endsWith(pat.slice(1)) && h.length > pat.length - 1;
    return h === pat;
  });
}

function refused(why: string): ConveyorError {
  return new ConveyorError('HTTP_HOST_REFUSED', why);
}

export function createHttpHandler(allowedHosts: readonly string[]): Handler {
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
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!hostAllowed(host, allowedHosts)) throw refused(`http: host "${host}" is not in HTTP_ALLOWED_HOSTS`);
    if (isIP(host) && isForbiddenAddress(host)) throw refused(`http: address ${host} is link-local or cloud metadata and always refused`);

    const method = (data.method ?? (data.body === undefined ? 'GET' : 'POST')).toUpperCase();
    const headers: Record<string, string> = { 'user-agent': 'conveyor-webhook/1', ...(data.headers ?? {}) };
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

    // Checked when the socket connects, on the address actually used.
    const lookup = (hostname: string, options: object, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return cb(err, '', 0);
        const bad = addresses.find((a) => isForbiddenAddress(a.address));
        if (bad) return cb(refused(`http: ${hostname} resolves to ${bad.address}, a link-local or cloud-metadata address`), '', 0);
        const opts = options as { all?: boolean };
        if (opts.all) return cb(null, addresses);
        const first = addresses[0]!;
        cb(null, first.address, first.family);
      });
    };

    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method, headers, signal, lookup: lookup as never }, (response: IncomingMessage) => {
        let size = 0;
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            response.destroy();
            return;
          }
          chunks.push(c);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('close', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      });
      req.on('error', (err) => {
        if (signal.aborted && !ctx.signal.aborted) reject(new Error(`http: ${method} ${url.origin}${url.pathname} timed out after ${timeoutMs} ms`));
        else reject(err);
      });
      req.end(body);
    });
    if (res.status < 200 || res.status >= 300) {
      throw new ConveyorError('HTTP_STATUS', `http: ${method} ${url.origin}${url.pathname} answered ${res.status}`, { status: res.status });
    }
    return { status: res.status, body: res.body.slice(0, KEPT_BODY_CHARS) };
  };
}
