/**
 * The batches' part of the OpenAPI document (server/openapi.ts spreads these
 * into its paths and component schemas): POST /v1/batches, GET
 * /v1/batches/{id}, POST /v1/batches/{id}/jobs, POST /v1/batches/{id}/seal.
 * Same conventions as openapi.ts (every /v1 operation may answer 401, 403,
 * 429 and 503; operationIds are http-client's method names).
 */
import { BATCH_MAX_JOBS, DESCRIPTION_MAX, FAILED_LIST_MAX } from '../shared/batches/input.ts';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const ok = (description: string, schema: Json) => ({ description, content: { 'application/json': { schema } } });
const common = { '401': errorRef('Unauthorized'), '403': errorRef('Forbidden'), '429': errorRef('TooManyRequests'), '503': errorRef('Unavailable') };

function op(operationId: string, summary: string, scope: 'enqueue' | 'read', responses: Json, extra: Json = {}): Json {
  return { operationId, summary, security: [{ bearer: [scope] }], 'x-scope': scope, ...extra, responses: { ...responses, ...common } };
}

const body = (schema: Json) => ({ requestBody: { required: true, content: { 'application/json': { schema } } } });
const batchId = { name: 'id', in: 'path', required: true, description: 'Batch id', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' } };
const queueName = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'default' };

export const batchPaths: Json = {
  '/v1/batches': {
    post: op('createBatch', `Create a batch of up to ${BATCH_MAX_JOBS} jobs atomically, with callbacks (all or nothing)`, 'enqueue', {
      '201': ok('Created: the batch and its jobs\' ids, in the order given', ref('BatchCreated')),
      '400': errorRef('BadRequest'),
      '404': errorRef('NotFound'),
      '409': errorRef('Conflict'),
      '413': errorRef('PayloadTooLarge'),
      '415': errorRef('UnsupportedMediaType'),
      '422': errorRef('Unprocessable'),
    }, {
      description: 'The token needs the enqueue scope on every queue named by the jobs and the callbacks. Each callback is an ordinary job enqueued once, with BatchCallbackData as its data, when its condition first holds: onSuccess (every job succeeded), onComplete (every job finished, some may be dead), onDeath (the first dead job).',
      ...body(ref('BatchInput')),
    }),
  },
  '/v1/batches/{id}': {
    parameters: [batchId],
    get: op('getBatch', 'A batch: state, counts (total = pending + failed + succeeded + dead), progress, callbacks, its first dead jobs', 'read', {
      '200': ok('The batch', ref('Batch')),
      '400': errorRef('BadRequest'),
      '404': errorRef('NotFound'),
    }),
  },
  '/v1/batches/{id}/jobs': {
    parameters: [batchId],
    post: op('addBatchJobs', `Add up to ${BATCH_MAX_JOBS} jobs to an open batch (409 BATCH_SEALED once sealed: nothing added)`, 'enqueue', {
      '201': ok('Added', ref('BatchAdded')),
      '400': errorRef('BadRequest'),
      '404': errorRef('NotFound'),
      '409': errorRef('Conflict'),
      '413': errorRef('PayloadTooLarge'),
      '415': errorRef('UnsupportedMediaType'),
      '422': errorRef('Unprocessable'),
    }, body(ref('BatchAddInput'))),
  },
  '/v1/workflows': {
    post: op('createWorkflow', 'Create a workflow: a graph of steps, each a job, with the steps it runs after (all or nothing)', 'enqueue', {
      '201': ok('Created: each step\'s job id', ref('WorkflowCreated')),
      '400': errorRef('BadRequest'),
      '413': errorRef('PayloadTooLarge'),
      '415': errorRef('UnsupportedMediaType'),
      '422': errorRef('Unprocessable'),
    }, {
      description: 'A cycle, a step depending on a step that does not exist or on itself is 422 WORKFLOW_INVALID naming the step (details.step); nothing is created. A step runs once every step it runs after succeeded and reads their results; a failed step cancels the steps after it, unless it is optional. A workflow is a batch: GET /v1/batches/{id} shows its counts.',
      ...body(ref('WorkflowInput')),
    }),
  },
  '/v1/workflows/{id}': {
    parameters: [batchId],
    get: op('getWorkflow', 'A workflow: its counts and callbacks, and each step\'s state', 'read', {
      '200': ok('The workflow', ref('Workflow')),
      '400': errorRef('BadRequest'),
      '404': errorRef('NotFound'),
    }),
  },
  '/v1/batches/{id}/seal': {
    parameters: [batchId],
    post: op('sealBatch', 'Seal an open batch (idempotent): no more jobs; its callbacks may fire from now on', 'enqueue', {
      '200': ok('The batch, sealed', ref('Batch')),
      '400': errorRef('BadRequest'),
      '404': errorRef('NotFound'),
    }),
  },
};

const iso = { type: ['string', 'null'], format: 'date-time' };
const countFields = {
  total: { type: 'integer' },
  pending: { type: 'integer', description: 'Not finished, no attempt failed yet' },
  failed: { type: 'integer', description: 'Not finished, an attempt failed: waiting for its retry' },
  succeeded: { type: 'integer' },
  dead: { type: 'integer', description: 'Failed for good (a replay of its dead letter makes it pending again)' },
};
const failedJob = {
  type: 'object',
  required: ['id', 'queue', 'error'],
  properties: { id: { type: 'string' }, queue: { type: 'string' }, error: { type: 'string', description: 'The last attempt\'s error (at most 1000 characters)' } },
};
const callbackView = {
  type: 'object',
  required: ['queue', 'name', 'jobId', 'firedAt', 'enqueuedAt'],
  properties: {
    queue: { type: 'string' },
    name: { type: 'string' },
    jobId: { type: 'string', description: 'The callback job\'s id: batch-<batch id>-<success|complete|death>' },
    firedAt: { ...iso, description: 'When its condition first held (null: not yet)' },
    enqueuedAt: { ...iso, description: 'When the callback job was enqueued' },
  },
};

export const batchSchemas: Json = {
  BatchJobInput: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    description: 'One job of a batch: validated as an enqueue is (its name\'s payload schema, options); opts.jobId, debounce and throttle are refused',
    properties: { queue: queueName, name: { type: 'string', minLength: 1, maxLength: 128 }, data: {}, opts: ref('JobOptions') },
  },
  BatchCallbackInput: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    description: 'A callback job: a job name the server knows (422 UNKNOWN_JOB_NAME otherwise, when it knows its jobs) whose schema accepts BatchCallbackData',
    properties: { queue: queueName, name: { type: 'string', minLength: 1, maxLength: 128 }, opts: ref('JobOptions') },
  },
  BatchInput: {
    type: 'object',
    additionalProperties: false,
    required: ['jobs'],
    properties: {
      jobs: { type: 'array', minItems: 1, maxItems: BATCH_MAX_JOBS, items: ref('BatchJobInput'), description: `At most ${BATCH_MAX_JOBS} (400 BATCH_TOO_LARGE); more: create it open and add the rest` },
      onSuccess: ref('BatchCallbackInput'),
      onComplete: ref('BatchCallbackInput'),
      onDeath: ref('BatchCallbackInput'),
      open: { type: 'boolean', default: false, description: 'Jobs may be added until POST /v1/batches/{id}/seal; onSuccess and onComplete wait for the seal' },
      description: { type: 'string', maxLength: DESCRIPTION_MAX },
      parent: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'Nest in this batch: it completes only when this one does' },
    },
  },
  BatchAddInput: {
    type: 'object',
    additionalProperties: false,
    required: ['jobs'],
    properties: { jobs: { type: 'array', minItems: 1, maxItems: BATCH_MAX_JOBS, items: ref('BatchJobInput') } },
  },
  BatchCreated: {
    type: 'object',
    required: ['id', 'total', 'sealed', 'ids'],
    properties: { id: { type: 'string' }, total: { type: 'integer' }, sealed: { type: 'boolean' }, ids: { type: 'array', items: { type: 'string' }, description: 'The jobs\' ids, in the order given' } },
  },
  BatchAdded: {
    type: 'object',
    required: ['id', 'total', 'ids'],
    properties: { id: { type: 'string' }, total: { type: 'integer', description: 'The batch\'s total after the add' }, ids: { type: 'array', items: { type: 'string' } } },
  },
  Batch: {
    type: 'object',
    required: ['id', 'description', 'state', 'sealed', 'progress', 'queues', 'createdAt', 'sealedAt', 'completedAt', 'succeededAt', 'callbacks', 'parent', 'children', 'failedJobs', ...Object.keys(countFields)],
    properties: {
      id: { type: 'string' },
      description: { type: ['string', 'null'] },
      state: { enum: ['open', 'running', 'completed', 'succeeded'], description: 'open: jobs may be added; running: sealed, jobs pending; completed: all finished, some dead; succeeded: all succeeded' },
      sealed: { type: 'boolean' },
      ...countFields,
      progress: { type: 'number', minimum: 0, maximum: 1, description: '(succeeded + dead) / total' },
      queues: { type: 'array', items: { type: 'string' } },
      createdAt: iso,
      sealedAt: iso,
      completedAt: iso,
      succeededAt: iso,
      callbacks: { type: 'object', properties: { onSuccess: callbackView, onComplete: callbackView, onDeath: callbackView } },
      parent: { type: ['string', 'null'] },
      children: {
        type: 'object',
        description: 'Nested batches',
        required: ['total', 'pending', 'completed', 'succeeded'],
        properties: { total: { type: 'integer' }, pending: { type: 'integer' }, completed: { type: 'integer' }, succeeded: { type: 'integer' } },
      },
      failedJobs: { type: 'array', maxItems: FAILED_LIST_MAX, items: failedJob, description: `The dead jobs (the first ${FAILED_LIST_MAX})` },
    },
  },
  WorkflowStepInput: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      queue: queueName,
      name: { type: 'string', minLength: 1, maxLength: 128 },
      data: {},
      opts: ref('JobOptions'),
      after: { type: 'array', maxItems: 1000, items: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }, description: 'The steps whose results this one needs' },
      optional: { type: 'boolean', default: false, description: 'Its failure does not cancel the steps after it' },
    },
  },
  WorkflowInput: {
    type: 'object',
    additionalProperties: false,
    required: ['steps'],
    properties: {
      steps: { type: 'object', minProperties: 1, maxProperties: 10_000, propertyNames: { pattern: '^[A-Za-z0-9._-]{1,64}$' }, additionalProperties: ref('WorkflowStepInput') },
      onSuccess: ref('BatchCallbackInput'),
      onComplete: ref('BatchCallbackInput'),
      onDeath: ref('BatchCallbackInput'),
      description: { type: 'string', maxLength: DESCRIPTION_MAX },
    },
  },
  WorkflowCreated: {
    type: 'object',
    required: ['id', 'steps'],
    properties: { id: { type: 'string' }, steps: { type: 'object', additionalProperties: { type: 'string' }, description: 'Step name → its job\'s id' } },
  },
  Workflow: {
    type: 'object',
    required: ['id', 'description', 'state', 'sealed', 'progress', 'queues', 'createdAt', 'sealedAt', 'completedAt', 'succeededAt', 'callbacks', 'parent', 'children', 'steps', 'order', ...Object.keys(countFields)],
    properties: {
      id: { type: 'string' },
      description: { type: ['string', 'null'] },
      state: { enum: ['open', 'running', 'completed', 'succeeded'] },
      sealed: { type: 'boolean' },
      ...countFields,
      progress: { type: 'number', minimum: 0, maximum: 1 },
      queues: { type: 'array', items: { type: 'string' } },
      createdAt: iso,
      sealedAt: iso,
      completedAt: iso,
      succeededAt: iso,
      callbacks: { type: 'object', properties: { onSuccess: callbackView, onComplete: callbackView, onDeath: callbackView } },
      parent: { type: ['string', 'null'] },
      children: { type: 'object', required: ['total', 'pending', 'completed', 'succeeded'], properties: { total: { type: 'integer' }, pending: { type: 'integer' }, completed: { type: 'integer' }, succeeded: { type: 'integer' } } },
      order: { type: 'array', items: { type: 'string' }, description: 'The steps, each after its dependencies' },
      steps: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['id', 'queue', 'name', 'after', 'optional', 'state', 'error'],
          properties: {
            id: { type: 'string', description: 'Its job\'s id' },
            queue: { type: 'string' },
            name: { type: 'string' },
            after: { type: 'array', items: { type: 'string' } },
            optional: { type: 'boolean' },
            state: { enum: ['blocked', 'pending', 'retrying', 'succeeded', 'dead', 'cancelled'], description: 'blocked: waiting for the steps it runs after; cancelled: one of them failed, it never ran' },
            error: { type: ['string', 'null'] },
          },
        },
      },
    },
  },
};
