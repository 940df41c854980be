/**
 * The OpenAPI 3.1 document of the whole HTTP API, served at GET
 * /v1/openapi.json, with the known jobs' payload schemas when given them.
 * Written by hand beside the routes: test/api-enqueue checks that every
 * route is listed and every listed route is served, test/openapi-lint that
 * redocly's recommended rules pass with and without jobs, and
 * test/http-client that every operation's answers match it and that
 * http-client/ has one method per operationId.
 */
import { JOB_STATES } from '../shared/queue/inspector.ts';
import { MAX_PRIORITY } from '../shared/queue/job-input.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from './request-input.ts';
import { batchPaths, batchSchemas } from './openapi-batches.ts';
import { EVENT_TYPES, HISTORY_STATES } from '../shared/history/translate.ts';

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

/**
 * One operation; every /v1 operation may answer 401, 403, 429 (API_RATE_LIMIT)
 * and 503. The operationId is the method name generated clients (and
 * http-client/) give it: camelCase, stable, never renamed.
 */
function op(operationId: string, summary: string, scope: Scope | null, responses: Json, extra: Json = {}): Json {
  const common = scope ? { '401': errorRef('Unauthorized'), '403': errorRef('Forbidden'), '429': errorRef('TooManyRequests'), '503': errorRef('Unavailable') } : {};
  return {
    operationId,
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
const unexpected = { '4XX': errorRef('ClientError') };

const paths: Json = {
  '/v1/queues': {
    get: op('listQueues', 'Every queue with its counts', 'read', { '200': ok('The queues', ref('QueueList')) }),
  },
  '/v1/queues/{queue}': {
    parameters: [queueParam],
    get: op('getQueue', 'One queue with its counts', 'read', { '200': ok('The queue', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/jobs': {
    parameters: [queueParam],
    post: op('enqueueJob', 'Enqueue one job', 'enqueue', {
      '201': ok('Enqueued', ref('EnqueueResult')),
      '200': ok('Nothing was added: a job with this opts.jobId already exists (duplicate: true), or a job with this opts.throttle.id holds the window (throttled: true)', { oneOf: [ref('DuplicateResult'), ref('ThrottledResult')] }),
      ...bad,
      ...tooBig,
      '422': errorRef('Unprocessable'),
    }, body(ref('JobInput'))),
    get: op('listJobs', 'Jobs in one state, paged', 'read', { '200': ok('A page of jobs', ref('JobList')), ...bad, ...missing }, {
      parameters: [{ name: 'state', in: 'query', required: true, schema: { type: 'string', enum: JOB_STATES } }, ...pagingParams],
    }),
  },
  '/v1/queues/{queue}/jobs/bulk': {
    parameters: [queueParam],
    post: op('enqueueJobsBulk', 'Enqueue many jobs atomically (all or none; at most BULK_MAX)', 'enqueue', { '201': ok('Enqueued', ref('BulkResult')), ...bad, ...tooBig, '422': errorRef('Unprocessable') }, body(ref('BulkInput'))),
  },
  '/v1/queues/{queue}/jobs/{id}': {
    parameters: [queueParam, idParam('Job id')],
    get: op('getJob', 'One job, in its queue or its dead letters', 'read', { '200': ok('The job', ref('Job')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/jobs/{id}/timeline': {
    parameters: [queueParam, idParam('Job id')],
    get: op('getJobTimeline', 'A job\'s history: every event and every attempt (worker, start, end, outcome, error); needs HISTORY_URL', 'read', {
      '200': ok('The timeline', ref('JobTimeline')),
      ...bad,
      '404': errorRef('NotFound'),
    }),
  },
  '/v1/history': {
    get: op('searchHistory', 'Jobs in the history, newest first by enqueue time, cursor-paged; needs HISTORY_URL', 'read', { '200': ok('A page of jobs', ref('HistoryPage')), ...bad, ...missing }, {
      description:
        'Every filter is optional and they combine. Besides the parameters listed, data.<path>=<value> keeps jobs whose payload has that value at that path (data.user.id=42 matches {"user": {"id": 42}} and {"user": {"id": "42"}}). A token limited to some queues must name one (queue). Unknown parameters are refused (400, naming them).',
      parameters: [
        { name: 'queue', in: 'query', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
        { name: 'name', in: 'query', description: 'Job name', schema: { type: 'string', maxLength: 128 } },
        { name: 'state', in: 'query', description: 'The job\'s last known state', schema: { type: 'string', enum: HISTORY_STATES } },
        { name: 'key', in: 'query', description: 'Flow key (opts.key)', schema: { type: 'string', maxLength: 128 } },
        { name: 'since', in: 'query', description: 'Enqueued at or after: ISO 8601 or epoch ms', schema: { type: 'string' } },
        { name: 'until', in: 'query', description: 'Enqueued before: ISO 8601 or epoch ms', schema: { type: 'string' } },
        { name: 'q', in: 'query', description: 'Words of the job\'s name, id, key, last error or payload', schema: { type: 'string', maxLength: 200 } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        { name: 'cursor', in: 'query', description: 'The next of the previous page', schema: { type: 'string' } },
      ],
    }),
  },
  '/v1/queues/{queue}/pause': {
    parameters: [queueParam],
    post: op('pauseQueue', 'Pause the queue: workers take no new jobs from it', 'admin', { '200': ok('The queue, now paused', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/resume': {
    parameters: [queueParam],
    post: op('resumeQueue', 'Resume a paused queue', 'admin', { '200': ok('The queue, now running', ref('Queue')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/limits': {
    parameters: [queueParam],
    get: op('getQueueLimits', 'The queue\'s flow limits and what they hold back: held jobs, slots in use, limit hits, the keys with the largest backlogs', 'read', { '200': ok('Limits and status', ref('LimitsStatus')), ...bad, ...missing }),
    put: op('putQueueLimits', 'Replace the queue\'s flow limits (absent fields: no limit); running workers apply them within 1 s', 'admin', {
      '200': ok('Limits and status', ref('LimitsStatus')),
      ...managed,
      ...bad,
    }, body(ref('QueueLimits'))),
    delete: op('clearQueueLimits', 'Remove every flow limit of the queue; held jobs go on round-robin', 'admin', { '200': ok('Limits and status', ref('LimitsStatus')), ...managed, ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead': {
    parameters: [queueParam],
    get: op('listDeadLetters', 'Dead letters, newest first, paged', 'read', { '200': ok('A page of dead letters', ref('DeadLetterList')), ...bad, ...missing }, { parameters: pagingParams }),
    delete: op('dropAllDeadLetters', 'Drop every dead letter of the queue', 'admin', { '200': ok('How many were dropped', ref('Dropped')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/retry': {
    parameters: [queueParam],
    post: op('replayAllDeadLetters', 'Send every dead letter back to its queue (same id, name, data; attempts start again)', 'admin', { '200': ok('How many were replayed', ref('Replayed')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/{id}': {
    parameters: [queueParam, idParam('Dead letter (job) id')],
    delete: op('dropDeadLetter', 'Drop one dead letter', 'admin', { '200': ok('Dropped', ref('Dropped')), ...bad, ...missing }),
  },
  '/v1/queues/{queue}/dead/{id}/retry': {
    parameters: [queueParam, idParam('Dead letter (job) id')],
    post: op('replayDeadLetter', 'Send one dead letter back to its queue', 'admin', { '200': ok('Replayed', ref('Replayed')), ...bad, ...missing }),
  },
  '/v1/schedules': {
    get: op('listSchedules', 'Every cron schedule', 'read', { '200': ok('The schedules', ref('ScheduleList')), ...bad }, {
      parameters: [{ name: 'queue', in: 'query', description: 'Only the schedules of this queue', schema: { type: 'string' } }],
    }),
  },
  '/v1/schedules/{id}': {
    parameters: [scheduleIdParam],
    get: op('getSchedule', 'One schedule', 'read', { '200': ok('The schedule', ref('Schedule')), ...bad, ...missing }),
    put: op('putSchedule', 'Create or replace a schedule (a replace keeps createdAt and the paused state)', 'admin', {
      '200': ok('Replaced', ref('Schedule')),
      '201': ok('Created', ref('Schedule')),
      ...bad,
      ...tooBig,
      ...managed,
      '422': errorRef('Unprocessable'),
    }, body(ref('ScheduleInput'))),
    delete: op('deleteSchedule', 'Delete a schedule (jobs it already enqueued stay)', 'admin', { '200': ok('Deleted', ref('ScheduleDeleted')), ...bad, ...missing, ...managed }),
  },
  '/v1/schedules/{id}/pause': {
    parameters: [scheduleIdParam],
    post: op('pauseSchedule', 'Stop producing jobs (idempotent)', 'admin', { '200': ok('The schedule, paused', ref('Schedule')), ...bad, ...missing }),
  },
  '/v1/schedules/{id}/resume': {
    parameters: [scheduleIdParam],
    post: op('resumeSchedule', 'Produce jobs again from the next cron time (idempotent)', 'admin', { '200': ok('The schedule, running', ref('Schedule')), ...bad, ...missing }),
  },
  '/v1/schedules/{id}/run': {
    parameters: [scheduleIdParam],
    post: op('runSchedule', 'Enqueue one job now with the schedule\'s name, data and options (also while paused)', 'enqueue', {
      '201': ok('Enqueued', ref('ScheduleRunResult')),
      ...bad,
      ...missing,
    }),
  },
  ...batchPaths,
  // The probes and the document answer GET with 200 whatever the request; a 4xx is only ever the generic error answer.
  '/v1/openapi.json': {
    get: op('getOpenApi', 'This document', null, { '200': ok('OpenAPI 3.1', { type: 'object', required: ['openapi', 'info', 'paths'], additionalProperties: true, properties: { openapi: { type: 'string' }, info: { type: 'object' }, paths: { type: 'object' } } }), ...unexpected }),
  },
  '/healthz': {
    get: op('healthz', 'The process is alive', null, { '200': ok('Alive', ref('Health')), ...unexpected }),
  },
  '/readyz': {
    get: op('readyz', 'A writable Redis primary answers', null, {
      '200': ok('Ready', ref('Readiness')),
      ...unexpected,
      '503': errorRef('Unavailable'),
    }),
  },
  '/metrics': {
    get: op('metrics', 'Prometheus metrics', null, { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...unexpected }),
  },
};

const iso = { type: ['string', 'null'], format: 'date-time' };
const page = (item: Json) => ({
  type: 'object',
  required: ['jobs', 'total', 'offset', 'limit'],
  properties: { jobs: { type: 'array', items: item }, total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
});
const counts = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead', 'paused', 'held'];

const schemas: Json = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        // Some codes carry what a caller needs to act: DURABILITY_NOT_CONFIRMED has ids, replicas and required.
        additionalProperties: true,
        properties: { code: { type: 'string', description: 'A code of docs/errors.md' }, message: { type: 'string' } },
      },
    },
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
      key: { type: 'string', minLength: 1, maxLength: 128, description: 'Flow control: the job\'s key (a tenant, a customer) for the queue\'s perKey limits' },
      debounce: { ...ref('Window'), description: 'Of jobs with the same id within ms only the last one runs (ms after the last enqueue); not with delay or throttle' },
      throttle: { ...ref('Window'), description: 'At most one job with this id per ms; a later enqueue answers 200 with the first one\'s id and throttled: true' },
    },
  },
  Window: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'ms'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 128 }, ms: { type: 'integer', minimum: 1, maximum: 604_800_000 } },
  },
  Rate: {
    type: 'object',
    additionalProperties: false,
    required: ['max', 'perMs'],
    properties: { max: { type: 'integer', minimum: 1, maximum: 1_000_000 }, perMs: { type: 'integer', minimum: 10, maximum: 86_400_000 } },
  },
  KeyLimits: {
    type: 'object',
    additionalProperties: false,
    properties: { concurrency: { type: 'integer', minimum: 1, maximum: 100_000 }, rate: ref('Rate') },
  },
  QueueLimits: {
    type: 'object',
    additionalProperties: false,
    description: 'Absent fields: no limit. concurrency and rate hold for the whole queue across every worker; perKey for each opts.key (jobs without one count as one key), served round-robin',
    properties: {
      concurrency: { type: 'integer', minimum: 1, maximum: 100_000 },
      rate: ref('Rate'),
      perKey: {
        type: 'object',
        additionalProperties: false,
        properties: {
          concurrency: { type: 'integer', minimum: 1, maximum: 100_000 },
          rate: ref('Rate'),
          overrides: { type: 'object', maxProperties: 1000, additionalProperties: ref('KeyLimits'), description: 'Limits for named keys, in place of the perKey ones' },
        },
      },
    },
  },
  LimitsStatus: {
    type: 'object',
    required: ['queue', 'limits', 'managedBy', 'updatedAt', 'held', 'admitted', 'hits', 'keys'],
    properties: {
      queue: { type: 'string' },
      limits: ref('QueueLimits'),
      managedBy: { enum: ['api', 'config', null], description: 'config: from the LIMITS file (change them there)' },
      updatedAt: { type: ['string', 'null'], format: 'date-time' },
      held: { type: 'integer', description: 'Jobs the per-key gate holds back' },
      admitted: { type: 'integer', description: 'Jobs holding a key slot (admitted, not finished)' },
      hits: { type: 'object', required: ['key-concurrency', 'key-rate'], properties: { 'key-concurrency': { type: 'integer' }, 'key-rate': { type: 'integer' } } },
      keys: {
        type: 'array',
        description: 'The keys with the largest backlogs',
        items: {
          type: 'object',
          required: ['key', 'held', 'running', 'waitingOn'],
          properties: { key: { type: 'string' }, held: { type: 'integer' }, running: { type: 'integer' }, waitingOn: { enum: ['key-concurrency', 'key-rate', 'turn', 'nothing'] } },
        },
      },
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
  ThrottledResult: {
    type: 'object',
    required: ['id', 'queue', 'name', 'throttled'],
    properties: { id: { type: 'string', description: 'The job that holds the throttle window' }, queue: { type: 'string' }, name: { type: 'string' }, throttled: { const: true } },
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
      heldBy: { enum: ['rate', 'concurrency', 'key-concurrency', 'key-rate'], description: 'A waiting job a limit holds back: which one' },
      source: { enum: ['history'], description: 'Redis no longer holds this finished job (it was trimmed): the answer is the job history\'s record (HISTORY_URL); returnValue is not kept there (null)' },
    },
  },
  JobList: page(ref('Job')),
  DeadLetter: {
    type: 'object',
    description: 'A job that used up its attempts, as its dead-letter queue keeps it',
    required: ['id', 'queue', 'name', 'state', 'data', 'opts', 'attemptsMade', 'returnValue', 'failedReason', 'stacktrace', 'createdAt', 'processedAt', 'finishedAt', 'deadAt'],
    properties: {
      id: { type: 'string' },
      queue: { type: 'string' },
      name: { type: 'string' },
      state: { const: 'dead' },
      data: {},
      opts: { type: 'object' },
      attemptsMade: { type: 'integer' },
      returnValue: { type: 'null' },
      failedReason: { type: 'string', description: 'The last attempt\'s error message' },
      stacktrace: { type: 'array', items: { type: 'string' } },
      createdAt: iso,
      processedAt: iso,
      finishedAt: iso,
      deadAt: iso,
    },
  },
  DeadLetterList: page(ref('DeadLetter')),
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
  ScheduleRunResult: {
    type: 'object',
    required: ['id', 'queue', 'name', 'schedule'],
    properties: { id: { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' }, schedule: { type: 'string', description: 'The schedule\'s id' } },
  },
  HistoryJob: {
    type: 'object',
    description: 'A job as the history last saw it',
    required: ['queue', 'id', 'name', 'key', 'state', 'createdAt', 'updatedAt', 'startedAt', 'finishedAt', 'attempts', 'failures', 'worker', 'durationMs', 'resultBytes', 'errorCode', 'error', 'data', 'payloadOmitted', 'payloadBytes', 'payloadHash', 'payloadHead'],
    properties: {
      queue: { type: 'string' },
      id: { type: 'string' },
      name: { type: ['string', 'null'] },
      key: { type: ['string', 'null'] },
      state: { enum: HISTORY_STATES },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      startedAt: iso,
      finishedAt: iso,
      attempts: { type: 'integer', description: 'Starts in the job\'s current life (a replay starts again)' },
      failures: { type: 'integer' },
      worker: { type: ['string', 'null'] },
      durationMs: { type: ['integer', 'null'] },
      resultBytes: { type: ['integer', 'null'] },
      errorCode: { type: ['string', 'null'] },
      error: { type: ['string', 'null'] },
      data: { description: 'The payload when kept whole, else null (payloadOmitted says why)' },
      payloadOmitted: { enum: ['off', 'too-large', 'not-json', 'gone', null] },
      payloadBytes: { type: ['integer', 'null'] },
      payloadHash: { type: ['string', 'null'], description: 'SHA-256 of the payload' },
      payloadHead: { type: ['string', 'null'], description: 'The first KB of a payload too large to keep' },
    },
  },
  HistoryPage: {
    type: 'object',
    required: ['jobs', 'next'],
    properties: { jobs: { type: 'array', items: ref('HistoryJob') }, next: { type: ['string', 'null'], description: 'cursor of the next (older) page; null on the last' } },
  },
  HistoryEvent: {
    type: 'object',
    required: ['at', 'type', 'attempt', 'worker', 'host', 'durationMs', 'resultBytes', 'errorCode', 'error', 'errorFingerprint', 'actor'],
    properties: {
      at: { type: 'string', format: 'date-time' },
      type: { enum: EVENT_TYPES },
      attempt: { type: ['integer', 'null'] },
      worker: { type: ['string', 'null'] },
      host: { type: ['string', 'null'] },
      durationMs: { type: ['integer', 'null'] },
      resultBytes: { type: ['integer', 'null'] },
      errorCode: { type: ['string', 'null'] },
      error: { type: ['string', 'null'] },
      errorFingerprint: { type: ['string', 'null'] },
      actor: { type: ['string', 'null'], description: 'Who replayed or dropped it (the dashboard\'s audit log)' },
      final: { const: true, description: 'A failure with no attempt left' },
    },
  },
  HistoryAttempt: {
    type: 'object',
    required: ['attempt', 'worker', 'host', 'startedAt', 'endedAt', 'outcome', 'durationMs', 'error'],
    properties: {
      attempt: { type: 'integer' },
      worker: { type: ['string', 'null'] },
      host: { type: ['string', 'null'] },
      startedAt: { type: 'string', format: 'date-time' },
      endedAt: iso,
      outcome: { enum: ['completed', 'failed', 'stalled', 'requeued', 'running'] },
      durationMs: { type: ['integer', 'null'] },
      error: {
        type: ['object', 'null'],
        required: ['code', 'message', 'fingerprint'],
        properties: { code: { type: ['string', 'null'] }, message: { type: ['string', 'null'] }, fingerprint: { type: ['string', 'null'] } },
      },
    },
  },
  JobTimeline: {
    type: 'object',
    required: ['queue', 'id', 'job', 'events', 'attempts'],
    properties: {
      queue: { type: 'string' },
      id: { type: 'string' },
      job: { oneOf: [ref('HistoryJob'), { type: 'null' }] },
      events: { type: 'array', items: ref('HistoryEvent') },
      attempts: { type: 'array', items: ref('HistoryAttempt') },
    },
  },
  Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
  Readiness: { type: 'object', required: ['status', 'role'], properties: { status: { const: 'ready' }, role: { type: 'string', description: 'master, or cluster for a Redis Cluster' } } },
};

const errorResponse = (description: string) => ({ description, ...json(ref('Error')) });

/** A job the process knows by name (a definition, or a HANDLERS module's schema): its payload schema goes into the document. */
export interface OpenApiJob {
  name: string;
  /** One line for the document. */
  description?: string | undefined;
  /** The JSON Schema of its data (draft 2020-12, or 07); absent: any data. */
  jsonSchema?: object | boolean | undefined;
}

export interface OpenApiOptions {
  /**
   * The servers entry. Default "/" (no host: the document is served by the API
   * it describes); a router mounted under a prefix may give that prefix.
   */
  serverUrl?: string;
}

/** The name of a component schema for a job name: PascalCase of its letters and digits (component names allow only A-Z a-z 0-9 . _ -). */
function componentBase(jobName: string): string {
  const words = jobName.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const pascal = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return pascal === '' || /^[0-9]/.test(pascal) ? `Job${pascal}` : pascal;
}

// JSON Schema keywords whose value is one schema, a list of schemas, or a map of names to schemas.
const ONE_SCHEMA = new Set(['not', 'if', 'then', 'else', 'items', 'additionalItems', 'additionalProperties', 'unevaluatedItems', 'unevaluatedProperties', 'contains', 'propertyNames', 'contentSchema']);
const SCHEMA_LIST = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items']);
const SCHEMA_MAP = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies']);

/**
 * A copy of a job's schema to live at #/components/schemas/{at}: its local
 * references (#, #/$defs/…, #/definitions/…) are made to point there, since
 * inside the document "#" is the document. Its $schema and $id go (the
 * document's dialect is 2020-12, and an $id would move the base of those
 * references). Boolean schemas in lists and at the top become {} / {not: {}}
 * (the same meaning), which OpenAPI tools read. Values that are data (const,
 * enum, default, examples…) are copied as they are, never rewritten.
 */
function embedSchema(schema: object | boolean, at: string): Json {
  const base = `#/components/schemas/${at}`;
  const asObject = (v: unknown) => (v === true ? {} : v === false ? { not: {} } : v);
  const walk = (node: unknown): unknown => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#')) out[k] = base + v.slice(1);
      else if (SCHEMA_LIST.has(k) && Array.isArray(v)) out[k] = v.map((x) => asObject(walk(x)));
      else if (ONE_SCHEMA.has(k)) out[k] = walk(v);
      else if (SCHEMA_MAP.has(k) && typeof v === 'object' && v !== null && !Array.isArray(v)) out[k] = Object.fromEntries(Object.entries(v).map(([name, x]) => [name, walk(x)]));
      else out[k] = typeof v === 'object' && v !== null ? JSON.parse(JSON.stringify(v)) : v;
    }
    return out;
  };
  const { $schema: _dialect, $id: _id, ...rest } = asObject(walk(schema)) as Json;
  return rest;
}

/**
 * The schemas a list of known jobs adds: for each job its data ({Job}Data)
 * and its enqueue body ({Job}JobInput: name fixed, data of that schema), and
 * JobInput becomes the choice of those or AnyJobInput (any other name, any
 * data). Sorted by name, so the document is the same for the same jobs.
 */
function jobSchemas(jobs: readonly OpenApiJob[]): Json {
  if (jobs.length === 0) return {};
  const sorted = [...jobs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const taken = new Set(Object.keys(schemas));
  const unique = (base: string) => {
    let name = base;
    for (let n = 2; taken.has(`${name}Data`) || taken.has(`${name}JobInput`); n++) name = `${base}${n}`;
    taken.add(`${name}Data`).add(`${name}JobInput`);
    return name;
  };
  const out: Json = {};
  const choices: Json[] = [];
  for (const job of sorted) {
    const c = unique(componentBase(job.name));
    const what = job.description ? ` (${job.description})` : '';
    const s = job.jsonSchema;
    const typed = s !== undefined && s !== true && !(typeof s === 'object' && Object.keys(s).length === 0);
    if (job.jsonSchema !== undefined) out[`${c}Data`] = embedSchema(job.jsonSchema, `${c}Data`);
    out[`${c}JobInput`] = {
      type: 'object',
      additionalProperties: false,
      description: `Enqueue "${job.name}"${what}`,
      'x-job-name': job.name,
      // The server checks the data against the schema even when it is absent (as null): a typed job needs it.
      required: typed ? ['name', 'data'] : ['name'],
      properties: { name: { const: job.name }, data: job.jsonSchema !== undefined ? ref(`${c}Data`) : {}, opts: ref('JobOptions') },
    };
    choices.push(ref(`${c}JobInput`));
  }
  const generic = schemas.JobInput as { properties: Json };
  out.AnyJobInput = {
    ...generic,
    description: 'A job of a name this document does not list: any data',
    properties: { ...generic.properties, name: { type: 'string', minLength: 1, maxLength: 128, not: { enum: sorted.map((j) => j.name) } } },
  };
  out.JobInput = { description: 'One job: a known job with its data, or a job of another name', anyOf: [...choices, ref('AnyJobInput')] };
  return out;
}

/**
 * The document. With the process's known jobs, each job's payload schema is
 * in it and the enqueue bodies are typed by job name, so clients generated
 * from it for other languages are typed too.
 */
export function openApiDocument(jobs: readonly OpenApiJob[] = [], options: OpenApiOptions = {}): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Conveyor HTTP API',
      version: '1',
      description:
        'Enqueue and inspect background jobs. Errors are {"error": {"code", "message"}}. Tokens: Authorization: Bearer <token>; scopes enqueue, read, admin, each possibly limited to queues matching a pattern (enqueue@emails.*).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: options.serverUrl ?? '/', description: 'The API that serves this document' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from API_TOKENS; the scope each operation needs is in its security list and x-scope.' } },
      schemas: { ...schemas, ...batchSchemas, ...jobSchemas(jobs) },
      responses: {
        BadRequest: errorResponse('Bad input (INVALID_JSON, INVALID_REQUEST, INVALID_QUEUE_NAME, INVALID_JOB_NAME, INVALID_JOB_ID, BATCH_TOO_LARGE); nothing was changed'),
        Unauthorized: errorResponse('No valid bearer token (UNAUTHORIZED); carries WWW-Authenticate: Bearer'),
        Forbidden: errorResponse('The token lacks the scope, or holds it only on queues matching other patterns (FORBIDDEN)'),
        TooManyRequests: errorResponse('The token is over API_RATE_LIMIT requests per second (RATE_LIMITED); carries Retry-After'),
        NotFound: errorResponse('QUEUE_NOT_FOUND, JOB_NOT_FOUND, DEAD_LETTER_NOT_FOUND, SCHEDULE_NOT_FOUND, BATCH_NOT_FOUND, or HISTORY_NOT_CONFIGURED (no HISTORY_URL)'),
        PayloadTooLarge: errorResponse('The job data is over MAX_PAYLOAD_BYTES, or the body over the request limit (PAYLOAD_TOO_LARGE)'),
        UnsupportedMediaType: errorResponse('The body is not application/json (UNSUPPORTED_MEDIA_TYPE)'),
        Conflict: errorResponse('The schedule or limits come from a config file: change them there (SCHEDULE_MANAGED_BY_CONFIG, LIMITS_MANAGED_BY_CONFIG); or the batch is sealed (BATCH_SEALED: nothing was added)'),
        Unprocessable: errorResponse('Well-formed but invalid: a cron expression (INVALID_CRON), or job data that breaks its job name\'s payload schema (PAYLOAD_INVALID, naming the path of the first error), a batch callback naming a job the server does not know (UNKNOWN_JOB_NAME), or a workflow graph with a cycle or a missing step (WORKFLOW_INVALID, naming the step)'),
        Unavailable: errorResponse('Redis is unavailable or not writable, the history database did not answer, or the request took longer than REQUEST_TIMEOUT_MS (REDIS_UNAVAILABLE, DURABILITY_NOT_CONFIRMED, HISTORY_UNAVAILABLE, REQUEST_TIMEOUT); carries Retry-After'),
        ClientError: errorResponse('Not an answer to a well-formed request: any other 4xx (such as 405 METHOD_NOT_ALLOWED, with Allow) carries the same error body'),
      },
    },
  };
}
