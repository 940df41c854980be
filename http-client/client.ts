/**
 * createHttpClient: the HTTP API over fetch, one method per operation of the
 * OpenAPI document (named after its operationId), each resolving with the
 * answer's JSON body and rejecting with a ConveyorHttpError.
 *
 *   const client = createHttpClient({ baseUrl: 'https://jobs.example.com', token: process.env.CONVEYOR_TOKEN });
 *   await client.enqueue(sendWelcome, { userId: 42 });                      // a definition: its queue, name, defaults
 *   await client.enqueueJob<typeof sendWelcome>('emails', { name: 'send-welcome', data: { userId: 42 } });
 *   const { jobs } = await client.listJobs('emails', { state: 'failed' });
 *
 * It imports no Redis client, no BullMQ, no express and no job definition at
 * run time (only their types), so it loads in any process that has fetch:
 * another service, a script, a browser, an edge function.
 */
import type { AnyJobDefinition, DataOf, JobOptions } from '../shared/jobs/define-job.ts';
import type {
  BatchAdded,
  BatchCreated,
  BatchInput,
  BatchJobInput,
  BatchView,
  WorkflowCreated,
  WorkflowInput,
  WorkflowView,
  BulkResult,
  DeadLetter,
  Dropped,
  EnqueueResult,
  Health,
  HistoryPage,
  HistoryQuery,
  HistoryTimeline,
  JobInputOf,
  JobState,
  JobView,
  OpenApiDocument,
  LimitsStatus,
  Page,
  PageOptions,
  QueueLimits,
  QueueList,
  QueueSummary,
  Readiness,
  Replayed,
  ScheduleDeleted,
  ScheduleInput,
  ScheduleList,
  ScheduleRunResult,
  ScheduleView,
} from './api-types.ts';
import { CLIENT_CODES, ConveyorHttpError, parseRetryAfter } from './http-error.ts';

/** A little past the server's REQUEST_TIMEOUT_MS default (30 s), so that its own 503 REQUEST_TIMEOUT normally comes first. */
export const DEFAULT_TIMEOUT_MS = 35_000;

export interface HttpClientOptions {
  /** Where the API is: its origin, with the prefix it is mounted under if any (https://example.com/jobs-api). */
  baseUrl: string | URL;
  /** A bearer token from API_TOKENS (sent as Authorization: Bearer …). */
  token?: string;
  /** The fetch to use (default the global one): for a proxy agent, retries, tracing, tests. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Give up on a request after this long (ms) with CLIENT_TIMEOUT; 0: never. Default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** Per call: every method takes these as its last argument. */
export interface CallOptions {
  /** Aborting it rejects the call with the signal's reason (not a ConveyorHttpError: the caller asked for it). */
  signal?: AbortSignal;
  /** This call's timeout, instead of the client's. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface ListJobsOptions extends PageOptions {
  state: JobState;
}

/** One method per operation of the HTTP API; the method name is the operationId. */
export interface HttpOperations {
  /** POST /v1/queues/{queue}/jobs. enqueueJob<typeof myJob>(…) types the name and data after a job definition. */
  enqueueJob<J extends AnyJobDefinition = never>(queue: string, job: JobInputOf<J>, call?: CallOptions): Promise<EnqueueResult>;
  /** POST /v1/queues/{queue}/jobs/bulk: all or none, at most BULK_MAX. */
  enqueueJobsBulk<J extends AnyJobDefinition = never>(queue: string, jobs: readonly JobInputOf<J>[], call?: CallOptions): Promise<BulkResult>;
  /** GET /v1/queues */
  listQueues(call?: CallOptions): Promise<QueueList>;
  /** GET /v1/queues/{queue} */
  getQueue(queue: string, call?: CallOptions): Promise<QueueSummary>;
  /** GET /v1/queues/{queue}/jobs?state=… */
  listJobs(queue: string, options: ListJobsOptions, call?: CallOptions): Promise<Page<JobView>>;
  /** GET /v1/queues/{queue}/jobs/{id}: in the queue or its dead letters. */
  getJob(queue: string, id: string, call?: CallOptions): Promise<JobView>;
  /** POST /v1/queues/{queue}/pause */
  pauseQueue(queue: string, call?: CallOptions): Promise<QueueSummary>;
  /** POST /v1/queues/{queue}/resume */
  resumeQueue(queue: string, call?: CallOptions): Promise<QueueSummary>;
  /** GET /v1/queues/{queue}/limits: its flow limits and what they hold back. */
  getQueueLimits(queue: string, call?: CallOptions): Promise<LimitsStatus>;
  /** PUT /v1/queues/{queue}/limits: replace them (absent fields: no limit). */
  putQueueLimits(queue: string, limits: QueueLimits, call?: CallOptions): Promise<LimitsStatus>;
  /** DELETE /v1/queues/{queue}/limits */
  clearQueueLimits(queue: string, call?: CallOptions): Promise<LimitsStatus>;
  /** GET /v1/queues/{queue}/dead: newest first. */
  listDeadLetters(queue: string, page?: PageOptions, call?: CallOptions): Promise<Page<DeadLetter>>;
  /** POST /v1/queues/{queue}/dead/{id}/retry */
  replayDeadLetter(queue: string, id: string, call?: CallOptions): Promise<Replayed>;
  /** POST /v1/queues/{queue}/dead/retry */
  replayAllDeadLetters(queue: string, call?: CallOptions): Promise<Replayed>;
  /** DELETE /v1/queues/{queue}/dead/{id} */
  dropDeadLetter(queue: string, id: string, call?: CallOptions): Promise<Dropped>;
  /** DELETE /v1/queues/{queue}/dead */
  dropAllDeadLetters(queue: string, call?: CallOptions): Promise<Dropped>;
  /** GET /v1/history: jobs newest first (the server needs HISTORY_URL); filters queue, name, state, key, since, until, q, data: { 'user.id': 42 }; cursor-paged. */
  searchHistory(search?: HistoryQuery, call?: CallOptions): Promise<HistoryPage>;
  /** GET /v1/queues/{queue}/jobs/{id}/timeline: every event and attempt of the job, from the history. */
  getJobTimeline(queue: string, id: string, call?: CallOptions): Promise<HistoryTimeline>;
  /** POST /v1/batches: up to 10,000 jobs atomically, with callbacks. */
  createBatch(batch: BatchInput, call?: CallOptions): Promise<BatchCreated>;
  /** GET /v1/batches/{id}: state, counts, progress, callbacks, the first dead jobs. */
  getBatch(id: string, call?: CallOptions): Promise<BatchView>;
  /** POST /v1/batches/{id}/jobs: add to an open batch (409 BATCH_SEALED once sealed). */
  addBatchJobs(id: string, jobs: readonly BatchJobInput[], call?: CallOptions): Promise<BatchAdded>;
  /** POST /v1/batches/{id}/seal */
  sealBatch(id: string, call?: CallOptions): Promise<BatchView>;
  /** POST /v1/workflows: a graph of steps (422 WORKFLOW_INVALID naming the step for a cycle or a missing one). */
  createWorkflow(workflow: WorkflowInput, call?: CallOptions): Promise<WorkflowCreated>;
  /** GET /v1/workflows/{id}: counts, callbacks, each step's state. */
  getWorkflow(id: string, call?: CallOptions): Promise<WorkflowView>;
  /** GET /v1/schedules[?queue=…] */
  listSchedules(filter?: { queue?: string }, call?: CallOptions): Promise<ScheduleList>;
  /** GET /v1/schedules/{id} */
  getSchedule(id: string, call?: CallOptions): Promise<ScheduleView>;
  /** PUT /v1/schedules/{id}: creates or replaces. putSchedule<typeof myJob>(…) types the name and data. */
  putSchedule<J extends AnyJobDefinition = never>(id: string, schedule: ScheduleInput<J>, call?: CallOptions): Promise<ScheduleView>;
  /** DELETE /v1/schedules/{id} */
  deleteSchedule(id: string, call?: CallOptions): Promise<ScheduleDeleted>;
  /** POST /v1/schedules/{id}/pause */
  pauseSchedule(id: string, call?: CallOptions): Promise<ScheduleView>;
  /** POST /v1/schedules/{id}/resume */
  resumeSchedule(id: string, call?: CallOptions): Promise<ScheduleView>;
  /** POST /v1/schedules/{id}/run: one job now. */
  runSchedule(id: string, call?: CallOptions): Promise<ScheduleRunResult>;
  /** GET /healthz */
  healthz(call?: CallOptions): Promise<Health>;
  /** GET /readyz: rejects with 503 REDIS_UNAVAILABLE when no writable primary answers. */
  readyz(call?: CallOptions): Promise<Readiness>;
  /** GET /metrics: the Prometheus text. */
  metrics(call?: CallOptions): Promise<string>;
  /** GET /v1/openapi.json */
  getOpenApi(call?: CallOptions): Promise<OpenApiDocument>;
}

export type OperationId = keyof HttpOperations;

export interface HttpClient extends HttpOperations {
  /**
   * Enqueues a job of a definition on its queue, with its default options
   * under the given ones (as Conveyor.enqueue does). The definition is only
   * read (name, queue, defaults): its schema and handler stay where they are.
   */
  enqueue<J extends AnyJobDefinition>(job: J, data: DataOf<J>, opts?: JobOptions, call?: CallOptions): Promise<EnqueueResult>;
  /** Enqueues one job of a definition per data item on its queue, atomically. */
  enqueueBulk<J extends AnyJobDefinition>(job: J, data: readonly DataOf<J>[], opts?: JobOptions, call?: CallOptions): Promise<BulkResult>;
}

interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** The answer is text (metrics), not JSON. */
  text?: boolean;
}

const seg = (v: string) => encodeURIComponent(v);

function baseOf(baseUrl: string | URL): string {
  const s = String(baseUrl);
  // A path (/jobs-api) is for fetch in a page, which resolves it against the page; anything else must be a URL.
  if (!s.startsWith('/')) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new TypeError(`createHttpClient: baseUrl ${JSON.stringify(s)} is not a URL (expected like http://127.0.0.1:3000)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`createHttpClient: baseUrl ${JSON.stringify(s)} is not http: or https:`);
    if (u.search || u.hash) throw new TypeError(`createHttpClient: baseUrl ${JSON.stringify(s)} may not have a query or a fragment`);
  }
  return s.replace(/\/+$/, '');
}

function withDefaults(defaults: Readonly<JobOptions> | undefined, opts: JobOptions | undefined): JobOptions | undefined {
  return defaults && Object.keys(defaults).length > 0 ? { ...defaults, ...opts } : opts;
}

function definitionOf(job: AnyJobDefinition, method: string): AnyJobDefinition {
  if (typeof job !== 'object' || job === null || typeof job.name !== 'string' || typeof job.queue !== 'string') {
    throw new TypeError(`${method}: expected a job definition (made with defineJob), got ${job === null ? 'null' : typeof job}`);
  }
  return job;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  if (typeof options !== 'object' || options === null) throw new TypeError('createHttpClient: expected { baseUrl, token?, fetch?, headers?, timeoutMs? }');
  const base = baseOf(options.baseUrl);
  const doFetch: typeof globalThis.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const clientTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(clientTimeout) || clientTimeout < 0) throw new TypeError(`createHttpClient: timeoutMs must be a number ≥ 0 (0: no timeout), got ${String(options.timeoutMs)}`);

  async function send<T>(req: ApiRequest, call: CallOptions = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = `${base}${req.path}${qs.size > 0 ? `?${qs}` : ''}`;
    const headers: Record<string, string> = { accept: req.text ? 'text/plain' : 'application/json', ...options.headers, ...call.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = call.timeoutMs ?? clientTimeout;
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [timeout, call.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const fail = (code: string, status: number, message: string, cause?: unknown, retryAfter?: number) =>
      new ConveyorHttpError({ code, status, message, method: req.method, url, cause, retryAfter });
    // No answer (or no whole answer): the caller's abort is theirs; a timeout or a broken connection is ours to name.
    const noAnswer = (err: unknown) => {
      if (call.signal?.aborted) return call.signal.reason ?? err;
      if (timeout?.aborted) return fail(CLIENT_CODES.CLIENT_TIMEOUT, 0, `${req.method} ${url}: no answer within ${timeoutMs} ms`, err);
      return fail(CLIENT_CODES.NETWORK_ERROR, 0, `${req.method} ${url}: ${(err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message ?? String(err)}`, err);
    };

    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method: req.method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body), ...(signal ? { signal } : {}) });
      text = await res.text();
    } catch (err) {
      throw noAnswer(err);
    }
    if (res.ok && req.text) return text as T;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    if (res.ok) {
      if (json === undefined) throw fail(CLIENT_CODES.UNEXPECTED_RESPONSE, res.status, `${req.method} ${url}: answered ${res.status} without a JSON body: ${text.slice(0, 200)}`);
      return json as T;
    }
    const e = (json as { error?: unknown } | undefined)?.error as Record<string, unknown> | undefined;
    if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || typeof e.message !== 'string') {
      throw fail(CLIENT_CODES.UNEXPECTED_RESPONSE, res.status, `${req.method} ${url}: answered ${res.status} ${res.statusText} without an error body: ${text.slice(0, 200)}`, undefined, retryAfter);
    }
    const { code, message, ...rest } = e as { code: string; message: string };
    throw new ConveyorHttpError({ code, status: res.status, message, retryAfter, details: Object.keys(rest).length > 0 ? rest : undefined, method: req.method, url });
  }

  const queuePath = (queue: string) => `/v1/queues/${seg(queue)}`;
  const schedulePath = (id: string) => `/v1/schedules/${seg(id)}`;

  const client: HttpClient = {
    enqueueJob: (queue, job, call) => send({ method: 'POST', path: `${queuePath(queue)}/jobs`, body: job }, call),
    enqueueJobsBulk: (queue, jobs, call) => send({ method: 'POST', path: `${queuePath(queue)}/jobs/bulk`, body: { jobs } }, call),
    listQueues: (call) => send({ method: 'GET', path: '/v1/queues' }, call),
    getQueue: (queue, call) => send({ method: 'GET', path: queuePath(queue) }, call),
    listJobs: (queue, { state, offset, limit }, call) => send({ method: 'GET', path: `${queuePath(queue)}/jobs`, query: { state, offset, limit } }, call),
    getJob: (queue, id, call) => send({ method: 'GET', path: `${queuePath(queue)}/jobs/${seg(id)}` }, call),
    pauseQueue: (queue, call) => send({ method: 'POST', path: `${queuePath(queue)}/pause` }, call),
    resumeQueue: (queue, call) => send({ method: 'POST', path: `${queuePath(queue)}/resume` }, call),
    getQueueLimits: (queue, call) => send({ method: 'GET', path: `${queuePath(queue)}/limits` }, call),
    putQueueLimits: (queue, limits, call) => send({ method: 'PUT', path: `${queuePath(queue)}/limits`, body: limits }, call),
    clearQueueLimits: (queue, call) => send({ method: 'DELETE', path: `${queuePath(queue)}/limits` }, call),
    listDeadLetters: (queue, page = {}, call) => send({ method: 'GET', path: `${queuePath(queue)}/dead`, query: { offset: page.offset, limit: page.limit } }, call),
    replayDeadLetter: (queue, id, call) => send({ method: 'POST', path: `${queuePath(queue)}/dead/${seg(id)}/retry` }, call),
    replayAllDeadLetters: (queue, call) => send({ method: 'POST', path: `${queuePath(queue)}/dead/retry` }, call),
    dropDeadLetter: (queue, id, call) => send({ method: 'DELETE', path: `${queuePath(queue)}/dead/${seg(id)}` }, call),
    dropAllDeadLetters: (queue, call) => send({ method: 'DELETE', path: `${queuePath(queue)}/dead` }, call),
    searchHistory: (search = {}, call) => {
      const { data, ...rest } = search;
      const query: Record<string, string | number | undefined> = { ...rest };
      for (const [path, value] of Object.entries(data ?? {})) query[`data.${path}`] = typeof value === 'string' ? value : JSON.stringify(value);
      return send({ method: 'GET', path: '/v1/history', query }, call);
    },
    getJobTimeline: (queue, id, call) => send({ method: 'GET', path: `${queuePath(queue)}/jobs/${seg(id)}/timeline` }, call),
    createBatch: (batch, call) => send({ method: 'POST', path: '/v1/batches', body: batch }, call),
    getBatch: (id, call) => send({ method: 'GET', path: `/v1/batches/${seg(id)}` }, call),
    addBatchJobs: (id, jobs, call) => send({ method: 'POST', path: `/v1/batches/${seg(id)}/jobs`, body: { jobs } }, call),
    sealBatch: (id, call) => send({ method: 'POST', path: `/v1/batches/${seg(id)}/seal` }, call),
    createWorkflow: (workflow, call) => send({ method: 'POST', path: '/v1/workflows', body: workflow }, call),
    getWorkflow: (id, call) => send({ method: 'GET', path: `/v1/workflows/${seg(id)}` }, call),
    listSchedules: (filter = {}, call) => send({ method: 'GET', path: '/v1/schedules', query: { queue: filter.queue } }, call),
    getSchedule: (id, call) => send({ method: 'GET', path: schedulePath(id) }, call),
    putSchedule: (id, schedule, call) => send({ method: 'PUT', path: schedulePath(id), body: schedule }, call),
    deleteSchedule: (id, call) => send({ method: 'DELETE', path: schedulePath(id) }, call),
    pauseSchedule: (id, call) => send({ method: 'POST', path: `${schedulePath(id)}/pause` }, call),
    resumeSchedule: (id, call) => send({ method: 'POST', path: `${schedulePath(id)}/resume` }, call),
    runSchedule: (id, call) => send({ method: 'POST', path: `${schedulePath(id)}/run` }, call),
    healthz: (call) => send({ method: 'GET', path: '/healthz' }, call),
    readyz: (call) => send({ method: 'GET', path: '/readyz' }, call),
    metrics: (call) => send({ method: 'GET', path: '/metrics', text: true }, call),
    getOpenApi: (call) => send({ method: 'GET', path: '/v1/openapi.json' }, call),

    enqueue(job, data, opts, call) {
      const d = definitionOf(job, 'enqueue');
      const o = withDefaults(d.defaults, opts);
      return send({ method: 'POST', path: `${queuePath(d.queue)}/jobs`, body: { name: d.name, data, ...(o !== undefined ? { opts: o } : {}) } }, call);
    },
    enqueueBulk(job, data, opts, call) {
      const d = definitionOf(job, 'enqueueBulk');
      if (!Array.isArray(data)) throw new TypeError('enqueueBulk: data must be an array (one item per job)');
      const o = withDefaults(d.defaults, opts);
      const jobs = data.map((item) => ({ name: d.name, data: item, ...(o !== undefined ? { opts: o } : {}) }));
      return send({ method: 'POST', path: `${queuePath(d.queue)}/jobs/bulk`, body: { jobs } }, call);
    },
  };
  return client;
}
