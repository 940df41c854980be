/**
 * GET /metrics, /healthz and /readyz on a port of its own, for processes
 * without an HTTP API: worker processes serve their metrics and probes here
 * (METRICS_PORT). Plain node:http, no framework: it answers three paths.
 * Without a health callback both probes answer 200 (the process answers).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { HttpService } from './http-service.ts';
import type { Service } from './service.ts';

export interface MetricsEndpointOptions {
  metrics: Pick<Metrics, 'render' | 'contentType'>;
  port: number;
  host: string;
  logger: Logger;
  /** Liveness and readiness: /healthz is 503 when not live, /readyz 503 when not ready (JSON bodies with detail). */
  health?: () => EndpointHealth;
}

export interface EndpointHealth {
  live: boolean;
  ready: boolean;
  detail?: Record<string, unknown>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

export class MetricsEndpoint implements Service {
  private readonly http: HttpService;

  constructor(opts: MetricsEndpointOptions) {
    const { metrics, logger, health } = opts;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') {
        json(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${path}; this port serves GET /metrics, GET /healthz and GET /readyz` } });
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        json(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here; use GET` } }, { Allow: 'GET' });
        return;
      }
      if (path === '/healthz' || path === '/readyz') {
        const h = health?.() ?? { live: true, ready: true };
        const ok = path === '/healthz' ? h.live : h.live && h.ready;
        const status = path === '/healthz' ? (ok ? 'ok' : 'not live') : ok ? 'ready' : 'not ready';
        json(res, ok ? 200 : 503, { status, ...(h.detail ? { detail: h.detail } : {}) });
        return;
      }
      metrics.render().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          logger.error({ err: err instanceof Error ? err.stack : String(err) }, 'metrics could not be rendered');
          json(res, 500, { error: { code: 'INTERNAL', message: 'metrics could not be rendered; the log has the details' } });
        },
      );
    };
    this.http = new HttpService({
      handler,
      port: opts.port,
      host: opts.host,
      graceMs: 1000,
      onListening: (port) => logger.info({ url: `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${port}/metrics`, port }, 'metrics listening'),
    });
  }

  get port(): number {
    return this.http.port;
  }

  start(): Promise<void> {
    return this.http.start();
  }

  stop(): Promise<void> {
    return this.http.stop();
  }
}
