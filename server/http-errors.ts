/**
 * The one mapping from an error to an HTTP answer: {"error": {"code", "message"}}
 * with the status of the code in ERROR_CODES. Redis trouble is a 503 with
 * Retry-After; malformed bodies are 400/413/415; only real bugs are 500, and
 * those are logged with their stack and answered without internals.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ConveyorError, ERROR_CODES, isConveyorError, type ErrorCode } from '../shared/errors.ts';
import { isRedisFailure } from '../shared/redis/failures.ts';
import { toRedisError } from '../shared/redis/connections.ts';
import type { Logger } from '../shared/log.ts';

export interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
  headers: Record<string, string>;
  /** Fields a caller needs to act on the error, beside code and message. */
  extra?: Record<string, unknown>;
}

/**
 * A caller told DURABILITY_NOT_CONFIRMED must know the ids of the jobs that
 * do exist on the primary, to retry with the same ids (safe) rather than blind.
 */
function extraFields(e: ConveyorError): Record<string, unknown> | undefined {
  if (e.code === 'DURABILITY_NOT_CONFIRMED' && e.details) {
    const { ids, replicas, required } = e.details;
    return { ids, replicas, required };
  }
  return undefined;
}

/** Errors from body-parser (http-errors objects) by their `type`. */
const BODY_ERRORS: Record<string, ErrorCode> = {
  'entity.parse.failed': 'INVALID_JSON',
  'entity.too.large': 'PAYLOAD_TOO_LARGE',
  'charset.unsupported': 'UNSUPPORTED_MEDIA_TYPE',
  'encoding.unsupported': 'UNSUPPORTED_MEDIA_TYPE',
  'request.aborted': 'INVALID_REQUEST',
  'request.size.invalid': 'INVALID_REQUEST',
};

function bodyParserError(err: unknown): ConveyorError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { type, status, message, limit } = err as { type?: unknown; status?: unknown; message?: unknown; limit?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number') return undefined;
  const code = BODY_ERRORS[type];
  if (!code) return undefined;
  if (code === 'INVALID_JSON') return new ConveyorError(code, `the body is not valid JSON (${String(message)}); send a JSON object`);
  if (code === 'PAYLOAD_TOO_LARGE') return new ConveyorError(code, `the request body is larger than the ${String(limit)} bytes this server accepts`);
  if (code === 'UNSUPPORTED_MEDIA_TYPE') return new ConveyorError(code, `${String(message)}; send the body as application/json in UTF-8, uncompressed, gzip or deflate`);
  return new ConveyorError(code, String(message));
}

/** The router's answer to a path with a malformed %-escape (/v1/queues/%C0%AE/jobs): URIError with status 400. */
function routerError(err: unknown): ConveyorError | undefined {
  if (err instanceof URIError && (err as { status?: unknown }).status === 400) {
    return new ConveyorError('INVALID_REQUEST', `the path has a malformed %-escape (${err.message}); encode names as UTF-8`);
  }
  return undefined;
}

export function toHttpError(err: unknown, redisLabel: string): HttpError & { bug: boolean } {
  let e: ConveyorError | undefined = isConveyorError(err) ? err : (bodyParserError(err) ?? routerError(err));
  if (!e && isRedisFailure(err)) e = toRedisError(err, redisLabel);
  if (!e) e = new ConveyorError('INTERNAL', 'an unexpected error occurred; the server log has the details');
  const status = ERROR_CODES[e.code].status;
  const headers: Record<string, string> = {};
  if (status === 503) headers['Retry-After'] = '1';
  if (status === 429) headers['Retry-After'] = String(e.details?.retryAfter ?? 1);
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer';
  // Anything answered with 500 is a bug worth a stack in the log, whatever its code.
  return { status, code: e.code, message: e.message, headers, extra: extraFields(e), bug: status === 500 };
}

export function sendError(res: Response, code: ErrorCode, message: string, headers: Record<string, string> = {}, extra?: Record<string, unknown>): void {
  const status = ERROR_CODES[code].status;
  if (status === 503 && !headers['Retry-After']) headers['Retry-After'] = '1';
  if (status === 429 && !headers['Retry-After']) headers['Retry-After'] = '1';
  if (status === 401 && !headers['WWW-Authenticate']) headers['WWW-Authenticate'] = 'Bearer';
  res.status(status).set(headers).json({ error: { ...extra, code, message } });
}

/** The express error handler: the last middleware of the app. */
export function errorHandler(logger: Logger, redisLabel: string): ErrorRequestHandler {
  // During an outage every request fails the same way: one warning per 5 s, with a count.
  let lastWarned = 0;
  let unlogged = 0;
  return (err, req, res, next) => {
    if (res.headersSent) {
      // The request already got its 503 REQUEST_TIMEOUT; the route's late error has no one to go to.
      if (res.locals.timedOut) return;
      next(err);
      return;
    }
    const h = toHttpError(err, redisLabel);
    if (h.bug) {
      logger.error({ err: err instanceof Error ? err.stack : String(err), method: req.method, path: req.path }, 'unexpected error answering a request');
    } else if (h.status >= 500) {
      const now = Date.now();
      if (now - lastWarned >= 5000) {
        logger.warn({ code: h.code, err: h.message, method: req.method, path: req.path, alsoFailedSinceLastWarning: unlogged }, 'request failed');
        lastWarned = now;
        unlogged = 0;
      } else unlogged++;
    }
    sendError(res, h.code, h.message, h.headers, h.extra);
  };
}

/** For a known path with a method it does not serve: 405 naming the allowed methods. */
export function methodNotAllowed(allow: string): RequestHandler {
  return (req, res) => {
    sendError(res, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow}`, { Allow: allow });
  };
}

/** The answer for every path no route serves. */
export const notFound: RequestHandler = (req, res) => {
  sendError(res, 'NOT_FOUND', `no route for ${req.method} ${req.path}; see GET /v1/openapi.json`);
};
