/**
 * ConveyorHttpError: what every client method throws when the request did
 * not succeed. An error answer of the API keeps its code and message
 * ({"error": {"code", "message"}}, docs/errors.md), its status and its
 * Retry-After; a request that got no usable answer has a code of its own
 * (CLIENT_CODES) and status 0, or the status of an answer that was not the
 * API's (a proxy's 502 page).
 */
import type { ErrorCode } from '../shared/errors.ts';

/** Failures on the client's side: the API never answered them. */
export const CLIENT_CODES = {
  /** No answer: the connection failed (DNS, refused, reset, TLS). */
  NETWORK_ERROR: 'NETWORK_ERROR',
  /** No answer within the client's timeoutMs. */
  CLIENT_TIMEOUT: 'CLIENT_TIMEOUT',
  /** An answer, but not one the API gives: not JSON where JSON was due, or an error status without an error body. */
  UNEXPECTED_RESPONSE: 'UNEXPECTED_RESPONSE',
} as const;

export type ClientCode = keyof typeof CLIENT_CODES;

/** The API's codes (docs/errors.md), the client's own, or a code a newer server added. */
export type HttpErrorCode = ErrorCode | ClientCode | (string & {});

export interface HttpErrorInit {
  code: HttpErrorCode;
  status: number;
  message: string;
  retryAfter?: number | undefined;
  details?: Record<string, unknown> | undefined;
  method: string;
  url: string;
  cause?: unknown;
}

export class ConveyorHttpError extends Error {
  readonly code: HttpErrorCode;
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  /** Seconds to wait before retrying, from Retry-After (429, 503); undefined when absent. */
  readonly retryAfter: number | undefined;
  /** The error body's other fields (DURABILITY_NOT_CONFIRMED: ids, replicas, required); undefined when there are none. */
  readonly details: Record<string, unknown> | undefined;
  readonly method: string;
  readonly url: string;

  constructor(init: HttpErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ConveyorHttpError';
    this.code = init.code;
    this.status = init.status;
    this.retryAfter = init.retryAfter;
    this.details = init.details;
    this.method = init.method;
    this.url = init.url;
  }
}

/** True for a ConveyorHttpError (of that code, when given), also from another copy of the package. */
export function isConveyorHttpError(err: unknown, code?: HttpErrorCode): err is ConveyorHttpError {
  if (!(err instanceof Error) || err.name !== 'ConveyorHttpError') return false;
  const e = err as Partial<ConveyorHttpError>;
  return typeof e.code === 'string' && typeof e.status === 'number' && (code === undefined || e.code === code);
}

/** Retry-After in seconds: a number of seconds, or an HTTP date (seconds from now, at least 0). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
