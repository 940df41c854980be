/**
 * Reading requests: the JSON body (type, size, emptiness), route parameters
 * and paging. Everything here throws ConveyorErrors before any Redis call, so
 * bad input changes nothing.
 */
import { isUtf8 } from 'node:buffer';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { ConveyorError } from '../shared/errors.ts';
import { assertQueueName } from '../shared/queue/producer.ts';
import { JOB_STATES, isReservedJobId, type JobState } from '../shared/queue/inspector.ts';
import { isWrongType } from '../shared/redis/failures.ts';
import { withinDepth } from '../shared/queue/json-depth.ts';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
export const MAX_OFFSET = 1_000_000_000;
/** Deepest nesting of a request body when the route names no other (MAX_JSON_DEPTH's default). */
export const DEFAULT_MAX_DEPTH = 64;

/** Requests whose body was present but empty (body-parser turns "" into {}). */
const emptyBodies = new WeakSet<Request>();
/** Requests whose body is not UTF-8: decoding would turn the bad bytes into U+FFFD and accept a job the client never sent. */
const notUtf8 = new WeakSet<Request>();

/** A decompression error from zlib (a body that is not the gzip/deflate/br its Content-Encoding says). */
function isZlibError(err: unknown): boolean {
  const e = err as { errno?: unknown; code?: unknown; type?: unknown };
  return typeof e === 'object' && e !== null && e.type === undefined && typeof e.errno === 'number' && typeof e.code === 'string';
}

/**
 * The JSON body of an enqueue route: application/json only (415 otherwise),
 * at most limitBytes (413), valid JSON (400 INVALID_JSON), not empty, nested
 * at most maxDepth levels (400 INVALID_REQUEST naming MAX_JSON_DEPTH).
 */
export function jsonBody(limitBytes: number, maxDepth = DEFAULT_MAX_DEPTH): RequestHandler {
  const parse = express.json({
    limit: limitBytes,
    strict: true,
    type: () => true, // the type was checked just before
    verify: (req, _res, buf) => {
      if (buf.length === 0) emptyBodies.add(req as Request);
      else if (!isUtf8(buf)) notUtf8.add(req as Request);
    },
  });
  return (req, res, next) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      const given = req.headers['content-type'];
      next(new ConveyorError('UNSUPPORTED_MEDIA_TYPE', given ? `Content-Type "${given}" is not supported; send application/json` : 'the request has no Content-Type; send application/json'));
      return;
    }
    parse(req, res, (err?: unknown) => {
      if (err) {
        next(isZlibError(err) ? new ConveyorError('INVALID_REQUEST', `the body could not be decompressed as its Content-Encoding "${String(req.headers['content-encoding'])}" says`) : err);
        return;
      }
      if (notUtf8.has(req)) {
        next(new ConveyorError('INVALID_JSON', 'the body is not valid UTF-8; send JSON in UTF-8'));
        return;
      }
      if (req.body === undefined || emptyBodies.has(req)) {
        next(new ConveyorError('INVALID_REQUEST', 'the request body is empty; send a JSON object'));
        return;
      }
      if (!withinDepth(req.body, maxDepth)) {
        next(new ConveyorError('INVALID_REQUEST', `the body nests arrays and objects more than ${maxDepth} levels deep; the limit is MAX_JSON_DEPTH=${maxDepth}`, { limit: maxDepth }));
        return;
      }
      next();
    });
  };
}

/** The parsed body, which must be a JSON object (not an array, not a scalar). */
export function bodyObject(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw new ConveyorError('INVALID_REQUEST', `the body must be a JSON object, not ${Array.isArray(b) ? 'an array' : b === null ? 'null' : typeof b}`);
  }
  return b as Record<string, unknown>;
}

/** The :queue route parameter, validated (400 INVALID_QUEUE_NAME). */
export function queueParam(req: Request): string {
  const q = req.params.queue;
  assertQueueName(q);
  return q;
}

type NotFoundCode = 'JOB_NOT_FOUND' | 'DEAD_LETTER_NOT_FOUND';

/**
 * The :id route parameter naming a job: printable, 1-256 characters (ids with
 * ":" exist: scheduled jobs). BullMQ's own key names ("meta", "wait", ...) are
 * never jobs and answer 404 without a lookup.
 */
export function idParam(req: Request, notFound: NotFoundCode = 'JOB_NOT_FOUND'): string {
  const id = req.params.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /\p{Cc}/u.test(id)) {
    throw new ConveyorError('INVALID_JOB_ID', `job id ${JSON.stringify(id)} is invalid`);
  }
  if (isReservedJobId(id)) throw new ConveyorError(notFound, `no ${notFound === 'JOB_NOT_FOUND' ? 'job' : 'dead letter'} "${id}"`);
  return id;
}

/** Runs a lookup by id; an id that names a Redis key of another type (WRONGTYPE) is a 404, not a 500. */
export async function byId<T>(lookup: Promise<T>, notFound: NotFoundCode, id: string, queue: string): Promise<T> {
  try {
    return await lookup;
  } catch (err) {
    if (isWrongType(err)) throw new ConveyorError(notFound, `no ${notFound === 'JOB_NOT_FOUND' ? 'job' : 'dead letter'} "${id}" in queue "${queue}"`);
    throw err;
  }
}

function single(req: Request, name: string): string | undefined {
  const v: unknown = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConveyorError('INVALID_REQUEST', `query parameter "${name}" is given more than once`);
  return v;
}

function wholeNumber(req: Request, name: string, def: number, min: number, max: number): number {
  const raw = single(req, name);
  if (raw === undefined || raw === '') return def;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ConveyorError('INVALID_REQUEST', `query parameter "${name}" must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  }
  return n;
}

/** ?offset=&limit= (offset default 0; limit default 50, at most 500). */
export function paging(req: Request): { offset: number; limit: number } {
  return {
    offset: wholeNumber(req, 'offset', 0, 0, MAX_OFFSET),
    limit: wholeNumber(req, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT),
  };
}

/** ?state= (required): one of waiting, active, delayed, completed, failed, dead. */
export function stateParam(req: Request): JobState {
  const s = single(req, 'state');
  if (s === undefined || s === '') throw new ConveyorError('INVALID_REQUEST', `query parameter "state" is required: one of ${JOB_STATES.join(', ')}`);
  if (!(JOB_STATES as readonly string[]).includes(s)) {
    throw new ConveyorError('INVALID_REQUEST', `query parameter "state" must be one of ${JOB_STATES.join(', ')}, not ${JSON.stringify(s)}`);
  }
  return s as JobState;
}

/**
 * REQUEST_TIMEOUT_MS: a request not answered in time gets 503 REQUEST_TIMEOUT
 * with Retry-After (Redis slow or unreachable), never a hang; whatever the
 * route does later is dropped (res.locals.timedOut tells the error handler).
 */
export function requestTimeout(ms: number, answer: (res: Response) => void): RequestHandler {
  return (_req, res, next) => {
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      res.locals.timedOut = true;
      res.set('Connection', 'close');
      answer(res);
    }, ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    res.on('finish', clear);
    res.on('close', clear);
    next();
  };
}
