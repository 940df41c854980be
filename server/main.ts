/** API server process: wires config, Redis, the producer and inspector to createApp, and listens on API_PORT. */
import { loadConfig, describeConfig } from '../shared/config/config.ts';
import { createLogger } from '../shared/log.ts';
import { isConveyorError } from '../shared/errors.ts';
import { closeRedis, createRedis, waitUntilReady } from '../shared/redis/connections.ts';
import { primaryStatus } from '../shared/redis/topology.ts';
import { QueueSet } from '../shared/queue/queue-set.ts';
import { Producer } from '../shared/queue/producer.ts';
import { Inspector } from '../shared/queue/inspector.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { applyScheduleFile } from '../shared/queue/schedule-file.ts';
import { Metrics } from '../shared/metrics.ts';
import { HttpService } from '../shared/runtime/http-service.ts';
import { runUntilSignalled } from '../shared/runtime/shutdown.ts';
import { startTracing } from '../shared/tracing.ts';
import { createApp } from './app.ts';
import { checkRedisAtStart } from '../shared/redis/startup-checks.ts';

let log = createLogger('server');
try {
  const config = loadConfig(process.env);
  log = createLogger('server', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  void checkRedisAtStart(config, log); // warnings only (noeviction, persistence, replica); never blocks the start

  // Payload schemas come from the HANDLERS modules, as the workers' handlers do.
  // (Ajv is loaded only then: start-up time matters when the start fails and must say so within 10 s.)
  const payloadSchemas = config.handlersPath ? await (await import('../shared/queue/payload-schemas.ts')).loadPayloadSchemas(config.handlersPath) : undefined;
  if (payloadSchemas?.size) log.info({ jobNames: payloadSchemas.names }, 'payload schemas loaded');
  const tracing = await startTracing(config, log, 'server');

  const conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: config.redisCommandTimeoutMs, logger: log, name: 'conveyor-server' });
  const queues = new QueueSet(conn, { telemetry: tracing?.telemetry });
  const producer = new Producer(queues, {
    maxBulk: config.bulkMax,
    validatePayload: payloadSchemas?.size ? payloadSchemas.validator : undefined,
    maxPayloadBytes: config.maxPayloadBytes,
    minReplicas: config.enqueueMinReplicas,
    waitTimeoutMs: config.enqueueWaitTimeoutMs,
    timeoutMs: config.redisCommandTimeoutMs,
    redisLabel: config.redis.redacted,
  });
  const inspector = new Inspector(queues);
  const schedules = new Schedules(queues, producer, { maxPayloadBytes: config.maxPayloadBytes, logger: log });
  const metrics = new Metrics({ inspector, queueSet: queues, schedules, processMetrics: true });
  const app = createApp({
    config,
    producer,
    inspector,
    logger: log,
    readiness: () => primaryStatus(conn, Math.min(config.redisCommandTimeoutMs, 2000)),
    metrics,
    schedules,
  });

  // Without tokens anyone who can reach the port can enqueue: only this machine may.
  const open = config.apiTokens.length === 0;
  const host = open ? '127.0.0.1' : '0.0.0.0';
  if (open) log.warn('API_TOKENS is not set: the API accepts requests without a token and listens on 127.0.0.1 only; set API_TOKENS to listen on every interface');

  const http = new HttpService({
    handler: app,
    port: config.apiPort,
    host,
    onListening: (port) => log.info({ url: `http://127.0.0.1:${port}`, host, port }, 'listening'),
  });
  // One service, so the order holds (runUntilSignalled stops services concurrently):
  // Redis answers before we listen; in-flight requests finish before Redis closes.
  await runUntilSignalled(
    [
      {
        async start() {
          await waitUntilReady(conn, config.redis.redacted);
          if (config.schedulesFile) {
            const r = await applyScheduleFile(schedules, config.schedulesFile, { maxPayloadBytes: config.maxPayloadBytes, logger: log });
            log.info({ applied: r.applied, removed: r.removed }, 'SCHEDULES file applied');
          }
          await http.start();
        },
        async stop() {
          await http.stop();
          await queues.close();
          await closeRedis(conn);
          await tracing?.shutdown();
          log.info('stopped');
        },
      },
    ],
    log,
  );
} catch (err) {
  const msg = isConveyorError(err) ? `${err.code}: ${err.message}` : String(err);
  log.fatal({ err: msg }, 'failed to start');
  process.stderr.write(`conveyor server: ${msg}\n`);
  process.exit(2);
}
