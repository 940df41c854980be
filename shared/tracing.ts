/**
 * OpenTelemetry tracing, off unless configured (OTEL_EXPORTER_OTLP_ENDPOINT,
 * or CONVEYOR_OTEL=1 for http://localhost:4318). When on, BullMQ's own spans
 * (bullmq-otel) follow a job from enqueue (Queue.add, the bulk's
 * FlowProducer) to processing in a worker, across processes: the trace
 * context rides in the job's options. Spans go to the collector over OTLP/HTTP.
 *
 * The SDK and exporter (@opentelemetry/sdk-trace-node,
 * @opentelemetry/exporter-trace-otlp-http, @opentelemetry/resources) are
 * loaded only when tracing is on, and are dev dependencies: an install with
 * --omit=dev that wants tracing adds them (npm install <those three>). When
 * they are missing the process says so in one warning and runs untraced.
 */
import type { Telemetry } from 'bullmq';
import type { Config } from './config/config.ts';
import type { Logger } from './log.ts';

export interface Tracing {
  /** For BullMQ Queue / FlowProducer / Worker options. */
  telemetry: Telemetry;
  /** Flushes buffered spans and stops exporting. */
  shutdown(): Promise<void>;
}

const SDK_PACKAGES = ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources'] as const;

/** Starts tracing when the config asks for it; undefined when off (or the SDK is not installed). */
export async function startTracing(config: Pick<Readonly<Config>, 'tracing'>, logger: Logger, role: string): Promise<Tracing | undefined> {
  const t = config.tracing;
  if (!t) return undefined;
  let sdk: typeof import('@opentelemetry/sdk-trace-node');
  let otlp: typeof import('@opentelemetry/exporter-trace-otlp-http');
  let resources: typeof import('@opentelemetry/resources');
  let otel: typeof import('bullmq-otel');
  try {
    [sdk, otlp, resources, otel] = await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('bullmq-otel'),
    ]);
  } catch (err) {
    logger.warn(
      { err: err instanceof Error ? err.message.split('\n')[0] : String(err) },
      `tracing is configured but the OpenTelemetry SDK is not installed; running without traces. Install it with: npm install ${SDK_PACKAGES.join(' ')}`,
    );
    return undefined;
  }
  const exporter = new otlp.OTLPTraceExporter({ url: `${t.endpoint}/v1/traces`, headers: { ...t.headers } });
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': t.serviceName, 'service.namespace': 'conveyor', 'conveyor.process': role }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  // Global: BullMQ's spans, and any a handler starts with @opentelemetry/api, share this provider.
  provider.register();
  logger.info({ endpoint: t.endpoint.replace(/\/\/[^@/]*@/, '//***@'), serviceName: t.serviceName }, 'tracing on (OTLP/HTTP)');
  return {
    telemetry: new otel.BullMQOtel({ tracerName: 'conveyor', version: '1' }),
    async shutdown() {
      await provider.shutdown().catch((err: unknown) => logger.warn({ err: String(err) }, 'tracing: could not flush the last spans'));
    },
  };
}
