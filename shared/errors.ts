/**
 * Conveyor's error vocabulary: one class, stable codes, one table mapping codes
 * to HTTP statuses. docs/errors.md lists the same codes (test/errors-doc.test.ts
 * keeps the two in step).
 */

export const ERROR_CODES = {
  // configuration
  CONFIG_INVALID: { status: 500, summary: 'An environment variable has a value Conveyor cannot use.' },
  REDIS_URL_INVALID: { status: 500, summary: 'REDIS_URL (or another Redis URL) is not one of the supported forms.' },
  // Redis reachability
  REDIS_UNAVAILABLE: { status: 503, summary: 'No writable Redis primary answered in time; retry later.' },
  REDIS_AUTH_FAILED: { status: 503, summary: 'Redis refused the credentials (wrong password or unknown ACL user).' },
  REDIS_TLS_MISMATCH: { status: 503, summary: 'One side speaks TLS and the other does not (redis:// vs rediss://).' },
  DURABILITY_NOT_CONFIRMED: { status: 503, summary: 'The job was written to the primary but fewer replicas than required confirmed it; retrying with the same jobId is safe.' },
  // request input
  INVALID_JSON: { status: 400, summary: 'The request body is not valid JSON.' },
  INVALID_REQUEST: { status: 400, summary: 'The request is malformed: a field is missing, unknown, of the wrong type or out of range.' },
  INVALID_QUEUE_NAME: { status: 400, summary: 'Queue names are 1-64 characters of A-Z a-z 0-9 . _ -' },
  INVALID_JOB_NAME: { status: 400, summary: 'Job names are 1-128 printable characters.' },
  INVALID_JOB_ID: { status: 400, summary: 'Job ids are 1-128 printable characters, not an integer and without ":".' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request body must be application/json.' },
  PAYLOAD_TOO_LARGE: { status: 413, summary: 'The job payload or the request body is larger than MAX_PAYLOAD_BYTES allows.' },
  PAYLOAD_INVALID: { status: 422, summary: 'The job data does not match the JSON Schema its job name declares (the message names the path of the first error).' },
  INVALID_CRON: { status: 422, summary: 'A schedule\'s cron expression or timezone is not valid.' },
  BATCH_TOO_LARGE: { status: 400, summary: 'More jobs in one batch create or add than a batch takes per call (10,000); create it open and add the rest.' },
  WORKFLOW_INVALID: { status: 422, summary: 'A workflow\'s graph is invalid: a cycle, a step depending on a step that does not exist, a step named twice; the message and details.step name the step.' },
  UNKNOWN_JOB_NAME: { status: 422, summary: 'A batch callback names a job this process does not know (not among its job definitions or HANDLERS schemas).' },
  // auth
  UNAUTHORIZED: { status: 401, summary: 'No valid bearer token was given.' },
  FORBIDDEN: { status: 403, summary: 'The token is valid but lacks the scope this request needs (or holds it only on other queues).' },
  RATE_LIMITED: { status: 429, summary: 'The token sent more requests per second than API_RATE_LIMIT allows; retry after the Retry-After seconds.' },
  CSRF_TOKEN_INVALID: { status: 403, summary: 'A dashboard form or action came without the session\'s CSRF token (or with a wrong one); reload the page and try again.' },
  READ_ONLY_USER: { status: 403, summary: 'The dashboard user is read-only (DASHBOARD_READONLY_USERS): it sees everything and changes nothing.' },
  LOGIN_RATE_LIMITED: { status: 429, summary: 'Too many failed dashboard logins from this address or for this user; wait for the time in Retry-After.' },
  // lookups
  NOT_FOUND: { status: 404, summary: 'No such route.' },
  QUEUE_NOT_FOUND: { status: 404, summary: 'No queue of that name exists.' },
  JOB_NOT_FOUND: { status: 404, summary: 'No job with that id exists in the queue (or its dead letters).' },
  DEAD_LETTER_NOT_FOUND: { status: 404, summary: 'No dead letter with that id exists in the queue.' },
  SCHEDULE_NOT_FOUND: { status: 404, summary: 'No schedule with that id exists.' },
  SCHEDULE_MANAGED_BY_CONFIG: { status: 409, summary: 'The schedule comes from the SCHEDULES file; change or remove it there, not through the API.' },
  BATCH_NOT_FOUND: { status: 404, summary: 'No batch with that id exists (or it was removed after its retention).' },
  BATCH_SEALED: { status: 409, summary: 'The batch is sealed (or its parent batch finished): no job can be added to it.' },
  LIMITS_MANAGED_BY_CONFIG: { status: 409, summary: 'The queue\'s limits come from the LIMITS file; change them there, not through the API.' },
  METHOD_NOT_ALLOWED: { status: 405, summary: 'The route exists but not with this method.' },
  HISTORY_NOT_CONFIGURED: { status: 404, summary: 'This server keeps no job history: HISTORY_URL is not set.' },
  HISTORY_UNAVAILABLE: { status: 503, summary: 'The job history database (HISTORY_URL) did not answer in time; jobs are unaffected. Retry later.' },
  // job execution (recorded as a job's failure, never an HTTP answer)
  HANDLER_NOT_FOUND: { status: 500, summary: 'The worker has no handler for the job name; the job is retried and then dead-lettered so it can be replayed once a handler is deployed.' },
  JOB_TIMEOUT: { status: 500, summary: 'The job ran past its timeout; the attempt failed.' },
  HTTP_HOST_REFUSED: { status: 500, summary: 'The http handler refused the target host (not in HTTP_ALLOWED_HOSTS, or link-local / cloud-metadata).' },
  HTTP_STATUS: { status: 500, summary: 'The http handler got a non-2xx answer.' },
  INVALID_HANDLER: { status: 500, summary: 'A module named by HANDLERS does not export handlers in a supported shape.' },
  HANDLER_CRASHED: { status: 500, summary: 'A sandboxed handler\'s child process or thread died while running the job (process.exit, a fatal error, out of memory under SANDBOX_MAX_HEAP_MB); the attempt failed and is retried.' },
  HANDLER_LOAD_FAILED: { status: 500, summary: 'A sandbox could not load the handler\'s module (it threw at import, or does not export the job); the attempt failed and is retried, then dead-lettered.' },
  // the package's own API (never an HTTP answer)
  INVALID_JOB_DEFINITION: { status: 500, summary: 'A job definition (defineJob, a --jobs module) is invalid, or two definitions have one job name.' },
  JOB_FAILED: { status: 500, summary: 'waitFor: the job failed for good (it is in the dead letters); details.failureCode names the failure.' },
  WAIT_TIMEOUT: { status: 500, summary: 'waitFor: the timeout passed before the job finished; the job itself goes on.' },
  NODE_UNSUPPORTED: { status: 500, summary: 'This Node.js is older than the package supports (Node.js 22.12 or newer).' },
  // anything else
  REQUEST_TIMEOUT: { status: 503, summary: 'The request was not answered within REQUEST_TIMEOUT_MS (Redis slow or unreachable); retry later.' },
  SHUTTING_DOWN: { status: 503, summary: 'The process is shutting down and takes no new work.' },
  INTERNAL: { status: 500, summary: 'A bug: an unexpected error. The log has the details.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ConveyorError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConveyorError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isConveyorError(err: unknown, code?: ErrorCode): err is ConveyorError {
  return err instanceof ConveyorError && (code === undefined || err.code === code);
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}
