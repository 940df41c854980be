/**
 * The OpenAPI 3.1 document of the whole HTTP API, served at GET
 * /v1/openapi.json. Written by hand beside the routes; test/api-enqueue
 * checks that every route is listed and every listed route is served.
 */
import { JOB_STATES } from '../shared/queue/inspector.ts';
import { MAX_PRIORITY } from '../shared/queue/job-input.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from './request-input.ts';

type Json = Record<string, unknown>;
type Scope = 'enqueue' | 'read' | 'admin';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const json = (schema: Json) => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: Json) => ({ description, ...json(schema) });

const queueParam = { name: 'queue', in: 'path', required: true, description: 'Queue name: 1-64 of A-Z a-z 0-9 . _ -', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } };
const idParam = (what: string) => ({ name: 'id', in: 'path', required: true, description: what, schema: { type: 'string', minLength: 1, maxLength: 256 } });
const scheduleIdParam = { name: 'id', in: 'path', required: true, description: 'Schedule id: 1-128 of A-Z a-z 0-9 . _ -', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' } };
const pagingParams = [
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } },
];

/** One operation; every /v1 operation may answer 401, 403, 429 (API_RATE_LIMIT) and 503. */
function op(summary: string, scope: Scope | null, responses: Json, extra: Json = {}): Json {
  const common = scope ? { '401': errorRef('Unauthorized'), '403': errorRef('Forbidden'), '429': errorRef('TooManyRequests'), '503': errorRef('Unavailable') } : {};
  return {
    summary,
    ...(scope ? { security: [{ bearer: [scope] }], 'x-scope': scope } : { security: [] }),
    ...extra,
    responses: { ...responses, ...common },
  };
}

const body = (schema: Json) => ({ requestBody: { required: true, ...json(schema) } });
const bad = { '400': errorRef('BadRequest') };
const missing = { '404': errorRef('NotFound') };
const managed = { '409': errorRef('Conflict') };
const tooBig = { '413': errorRef('PayloadTooLarge'), '415': errorRef('UnsupportedMediaType') };

const paths: Json = {
  '/v1/queues': {
    get: op('Every queue with its counts', 'read', { '200': ok('The queues', ref('QueueList')) }),
  },
  '/v1/queues/{queue}': {
    parameters: [queueParam],
    get: op('One queue with its counts', 'read', { '200': ok('The queue', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/jobs': {
    parameters: [queueParam],
    post: op('Enqueue one job', 'enqueue', {
      '201': ok('Enqueued', ref('EnqueueResult')),
      '200': ok('A job with this opts.jobId already exists: nothing was added', ref('DuplicateResult')),
      ...bad,
      ...tooBig,
      '422': errorRef('Unprocessable'),
    }, body(ref('JobInput'))),
    get: op('Jobs in one state, paged', 'read', { '200': ok('A page of jobs', ref('JobList')), ...bad, ...missing }, {
      parameters: [{ name: 'state', in: 'query', required: true, schema: { type: 'string', enum: JOB_STATES } }, ...pagingParams],
    }),
  },
  '/v1/queues/{queue}/jobs/bulk': {
    parameters: [queueParam],
    post: op('Enqueue many jobs atomically (all or none; at most BULK_MAX)', 'enqueue', { '201': ok('Enqueued', ref('BulkResult')), ...bad, ...tooBig, '422': errorRef('Unprocessable') }, body(ref('BulkInput'))),
  },
  '/v1/queues/{queue}/jobs/{id}': {
    parameters: [queueParam, idParam('Job id')],
    get: op('One job, in its queue or its dead letters', 'read', { '200': ok('The job', ref('Job')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/pause': {
    parameters: [queueParam],
    post: op('Pause the queue: workers take no new jobs from it', 'admin', { '200': ok('The queue, now paused', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/resume': {
    parameters: [queueParam],
    post: op('Resume a paused queue', 'admin', { '200': ok('The queue, now running', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead': {
    parameters: [queueParam],
    get: op('Dead letters, newest first, paged', 'read', { '200': ok('A page of dead letters', ref('JobList')), ...bad, ...missing }, { parameters: pagingParams }),
    delete: op('Drop every dead letter of the queue', 'admin', { '200': ok('How many were dropped', ref('Dropped')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/retry': {
    parameters: [queueParam],
    post: op('Send every dead letter back to its queue (same id, name, data; attempts start again)', 'admin', { '200': ok('How many were replayed', ref('Replayed')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/{id}': {
    parameters: [queueParam, idParam('Dead letter (job) id')],
    delete: op('Drop one dead letter', 'admin', { '200': ok('Dropped', ref('Dropped')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/{id}/retry': {
    parameters: [queueParam, idParam('Dead letter (job) id')],
    post: op('Send one dead letter back to its queue', 'admin', { '200': ok('Replayed', ref('Replayed')), ...bad, ...missing }),
  },
  '/v1/schedules': {
    get: op('Every cron schedule', 'read', { '200': ok('The schedules', ref('ScheduleList')), ...bad }, {
      parameters: [{ name: 'queue', in: 'query', description: 'Only the schedules of this queue', schema: { type: 'string' } }],
    }),
  },
  '/v1/schedules/{id}': {
    parameters: [scheduleIdParam],
    get: op('One schedule', 'read', { '200': ok('The schedule', ref('Schedule')), ...bad, ...missing }),
    put: op('Create or replace a schedule (a replace keeps createdAt and the paused state)', 'admin', {
      '200': ok('Replaced', ref('Schedule')),
      '201': ok('Created', ref('Schedule')),
      ...bad,
      ...tooBig,
      ...managed,
      '422': errorRef('Unprocessable'),
    }, body(ref('ScheduleInput'))),
    delete: op('Delete a schedule (jobs it already enqueued stay)', 'admin', { '200': ok('Deleted', ref('ScheduleDeleted')), ...bad, ...missing, ...managed }),
  },
  '/v1/schedules/{id}/pause': {
    parameters: [scheduleIdParam],
    post: op('Stop producing jobs (idempotent)', 'admin', { '200': ok('The schedule, paused', ref('Schedule')), ...bad, ...missing }),
  },
  '/v1/schedules/{id}/resume': {
    parameters: [scheduleIdParam],
    post: op('Produce jobs again from the next cron time (idempotent)', 'admin', { '200': ok('The schedule, running', ref('Schedule')), ...bad, ...missing }),
  },
  '/v1/schedules/{id}/run': {
    parameters: [scheduleIdParam],
    post: op('Enqueue one job now with the schedule\'s name, data and options (also while paused)', 'enqueue', {
      '201': ok('Enqueued', { type: 'object', required: ['id', 'queue', 'name', 'schedule'], properties: { id: { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' }, schedule: { type: 'string' } } }),
      ...bad,
      ...missing,
    }),
  },
  '/v1/openapi.json': {
    get: op('This document', null, { '200': { description: 'OpenAPI 3.1', content: { 'application/json': {} } } }),
  },
  '/healthz': {
    get: op('The process is alive', null, { '200': ok('Alive', { type: 'object', properties: { status: { const: 'ok' } } }) }),
  },
  '/readyz': {
    get: op('A writable Redis primary answers', null, {
      '200': ok('Ready', { type: 'object', properties: { status: { const: 'ready' }, role: { type: 'string' } } }),
      '503': errorRef('Unavailable'),
    }),
  },
  '/metrics': {
    get: op('Prometheus metrics', null, { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } }),
  },
};

const iso = { type: ['string', 'null'], format: 'date-time' };
const counts = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead', 'paused'];

const schemas: Json = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
  },
  Backoff: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'delay'],
    properties: { type: { enum: ['fixed', 'exponential'] }, delay: { type: 'integer', minimum: 0 }, jitter: { type: 'number', minimum: 0, maximum: 1 } },
  },
  JobOptions: {
    type: 'object',
    additionalProperties: false,
    properties: {
      delay: { type: 'integer', minimum: 0, description: 'ms before the job may run' },
      priority: { type: 'integer', minimum: 0, maximum: MAX_PRIORITY, description: '0 (none) or 1 (highest) upward' },
      attempts: { type: 'integer', minimum: 1, maximum: 1000, default: 3 },
      backoff: ref('Backoff'),
      jobId: { type: 'string', minLength: 1, maxLength: 128, description: 'Idempotency key: printable, not an integer, no ":"' },
      timeout: { type: 'integer', minimum: 1, description: 'ms one attempt may run' },
      minReplicas: { type: 'integer', minimum: 0, maximum: 100, description: 'Durable enqueue for this job: replicas that must hold it first' },
    },
  },
  JobInput: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: { name: { type: 'string', minLength: 1, maxLength: 128 }, data: {}, opts: ref('JobOptions') },
  },
  BulkInput: {
    type: 'object',
    additionalProperties: false,
    required: ['jobs'],
    properties: { jobs: { type: 'array', minItems: 1, maxItems: 1000, items: ref('JobInput') } },
  },
  EnqueueResult: { type: 'object', required: ['id', 'queue', 'name'], properties: { id: { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' } } },
  DuplicateResult: {
    type: 'object',
    required: ['id', 'queue', 'name', 'duplicate'],
    properties: { id: { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' }, duplicate: { const: true } },
  },
  BulkResult: { type: 'object', required: ['ids'], properties: { ids: { type: 'array', items: { type: 'string' } } } },
  Job: {
    type: 'object',
    required: ['id', 'queue', 'name', 'state', 'data', 'opts', 'attemptsMade', 'returnValue', 'failedReason', 'createdAt', 'processedAt', 'finishedAt'],
    properties: {
      id: { type: 'string' },
      queue: { type: 'string' },
      name: { type: 'string' },
      state: { enum: JOB_STATES },
      data: {},
      opts: { type: 'object' },
      attemptsMade: { type: 'integer' },
      returnValue: {},
      failedReason: { type: ['string', 'null'] },
      stacktrace: { type: 'array', items: { type: 'string' }, description: 'dead letters only' },
      createdAt: iso,
      processedAt: iso,
      finishedAt: iso,
      deadAt: { ...iso, description: 'dead letters only' },
    },
  },
  JobList: {
    type: 'object',
    required: ['jobs', 'total', 'offset', 'limit'],
    properties: { jobs: { type: 'array', items: ref('Job') }, total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
  },
  Queue: {
    type: 'object',
    required: ['name', 'paused', 'counts'],
    properties: {
      name: { type: 'string' },
      paused: { type: 'boolean' },
      counts: { type: 'object', required: counts, properties: Object.fromEntries(counts.map((c) => [c, { type: 'integer' }])) },
    },
  },
  QueueList: { type: 'object', required: ['queues'], properties: { queues: { type: 'array', items: ref('Queue') } } },
  Replayed: { type: 'object', required: ['replayed'], properties: { replayed: { type: 'integer' } } },
  Dropped: { type: 'object', required: ['dropped'], properties: { dropped: { type: 'integer' } } },
  ScheduleOptions: {
    type: 'object',
    additionalProperties: false,
    description: 'Options of each job the schedule enqueues (no jobId, no delay: the cron says when)',
    properties: {
      priority: { type: 'integer', minimum: 0, maximum: MAX_PRIORITY },
      attempts: { type: 'integer', minimum: 1, maximum: 1000 },
      backoff: ref('Backoff'),
      timeout: { type: 'integer', minimum: 1 },
    },
  },
  ScheduleInput: {
    type: 'object',
    additionalProperties: false,
    required: ['queue', 'name', 'cron'],
    properties: {
      queue: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
      name: { type: 'string', minLength: 1, maxLength: 128 },
      cron: { type: 'string', description: '5 fields, or 6 with seconds first; an invalid one is a 422 INVALID_CRON' },
      tz: { type: 'string', description: 'IANA time zone; default UTC' },
      data: {},
      opts: ref('ScheduleOptions'),
    },
  },
  Schedule: {
    type: 'object',
    required: ['id', 'queue', 'name', 'cron', 'tz', 'data', 'opts', 'paused', 'nextRuns', 'createdAt', 'updatedAt', 'managedBy'],
    properties: {
      id: { type: 'string' },
      queue: { type: 'string' },
      name: { type: 'string' },
      cron: { type: 'string' },
      tz: { type: 'string' },
      data: {},
      opts: ref('ScheduleOptions'),
      paused: { type: 'boolean' },
      nextRuns: { type: 'array', items: { type: 'string', format: 'date-time' }, description: 'The next 5 run times (UTC); empty while paused' },
      lastRunAt: { type: 'string', format: 'date-time' },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      managedBy: { enum: ['api', 'config'], description: '"config": from the SCHEDULES file, read-only through the API' },
    },
  },
  ScheduleDeleted: { type: 'object', required: ['id', 'deleted'], properties: { id: { type: 'string' }, deleted: { const: true } } },
  ScheduleList: { type: 'object', required: ['schedules'], properties: { schedules: { type: 'array', items: ref('Schedule') } } },
};

const errorResponse = (description: string) => ({ description, ...json(ref('Error')) });

export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Conveyor HTTP API',
      version: '1',
      description:
        'Enqueue and inspect background jobs. Errors are {"error": {"code", "message"}}. Tokens: Authorization: Bearer <token>; scopes enqueue, read, admin, each possibly limited to queues matching a pattern (enqueue@emails.*).',
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from API_TOKENS; the scope each operation needs is in its security list and x-scope.' } },
      schemas,
      responses: {
        BadRequest: errorResponse('Bad input (INVALID_JSON, INVALID_REQUEST, INVALID_QUEUE_NAME, INVALID_JOB_NAME, INVALID_JOB_ID); nothing was changed'),
        Unauthorized: errorResponse('No valid bearer token (UNAUTHORIZED); carries WWW-Authenticate: Bearer'),
        Forbidden: errorResponse('The token lacks the scope, or holds it only on queues matching other patterns (FORBIDDEN)'),
        TooManyRequests: errorResponse('The token is over API_RATE_LIMIT requests per second (RATE_LIMITED); carries Retry-After'),
        NotFound: errorResponse('QUEUE_NOT_FOUND, JOB_NOT_FOUND, DEAD_LETTER_NOT_FOUND or SCHEDULE_NOT_FOUND'),
        PayloadTooLarge: errorResponse('The job data is over MAX_PAYLOAD_BYTES, or the body over the request limit (PAYLOAD_TOO_LARGE)'),
        UnsupportedMediaType: errorResponse('The body is not application/json (UNSUPPORTED_MEDIA_TYPE)'),
        Conflict: errorResponse('The schedule comes from the SCHEDULES file: change it there (SCHEDULE_MANAGED_BY_CONFIG)'),
        Unprocessable: errorResponse('Well-formed but invalid: a cron expression (INVALID_CRON), or job data that breaks its job name\'s payload schema (PAYLOAD_INVALID, naming the path of the first error)'),
        Unavailable: errorResponse('Redis is unavailable or not writable, or the request took longer than REQUEST_TIMEOUT_MS (REDIS_UNAVAILABLE, DURABILITY_NOT_CONFIRMED, REQUEST_TIMEOUT); carries Retry-After'),
      },
    },
  };
}
