/**
 * Probes and metrics, outside /v1 and without a token (load balancers and
 * Prometheus do not carry one). /healthz: the process answers. /readyz: a
 * writable Redis primary answers, else 503 with Retry-After so a balancer
 * routes producers elsewhere during a failover.
 */
import { Router } from 'express';
import type { AppDeps } from '../app.ts';
import { methodNotAllowed, sendError } from '../http-errors.ts';

export function healthRoutes(deps: AppDeps): Router {
  const r = Router();

  r.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  r.get('/readyz', async (_req, res) => {
    const s = await deps.readiness();
    res.set('Cache-Control', 'no-store');
    if (s.ok) {
      res.json({ status: 'ready', role: s.role });
      return;
    }
    sendError(res, 'REDIS_UNAVAILABLE', `not ready: ${s.error ?? 'no writable Redis primary'}`);
  });

  r.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.render();
    res.set('Content-Type', deps.metrics.contentType).set('Cache-Control', 'no-store').send(text);
  });

  r.all('/healthz', methodNotAllowed('GET'));
  r.all('/readyz', methodNotAllowed('GET'));
  r.all('/metrics', methodNotAllowed('GET'));
  return r;
}
