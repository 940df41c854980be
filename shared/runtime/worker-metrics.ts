/**
 * A worker process's metrics (METRICS_PORT): job counters and histograms from
 * its WorkerHost's events, gauges of the queues it consumes and of Redis read
 * on scrape through a fail-fast connection of its own (a scrape during a
 * failover answers redis_up 0 instead of waiting like a worker connection
 * would), served by a MetricsEndpoint. Without METRICS_PORT it does nothing.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { QueueSet } from '../queue/queue-set.ts';
import { closeRedis, createRedis, type RedisConnection } from '../redis/connections.ts';
import { MetricsEndpoint } from './metrics-endpoint.ts';
import type { Service } from './service.ts';
import type { WorkerHost } from './worker-host.ts';

export interface WorkerMetricsOptions {
  config: Readonly<Config>;
  host: WorkerHost;
  /** The job names the worker has handlers for (other names are labelled "other"). */
  handlerNames: Iterable<string>;
  logger: Logger;
}

export class WorkerMetrics implements Service {
  readonly metrics: Metrics | undefined;
  private readonly conn: RedisConnection | undefined;
  private readonly queueSet: QueueSet | undefined;
  private readonly endpoint: MetricsEndpoint | undefined;

  constructor(opts: WorkerMetricsOptions) {
    const { config, host, logger } = opts;
    if (config.metricsPort === undefined) return;
    this.conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: 2000, logger, name: 'conveyor-worker-metrics' });
    this.conn.on('error', () => {}); // reported as conveyor_redis_up 0
    this.queueSet = new QueueSet(this.conn);
    this.metrics = new Metrics({ queueSet: this.queueSet, queues: host.queues, processMetrics: true });
    this.metrics.attachWorker(host, opts.handlerNames);
    this.endpoint = new MetricsEndpoint({ metrics: this.metrics, port: config.metricsPort, host: config.metricsHost, logger });
  }

  /** The bound port (after start), 0 without METRICS_PORT. */
  get port(): number {
    return this.endpoint?.port ?? 0;
  }

  async start(): Promise<void> {
    await this.endpoint?.start();
  }

  async stop(): Promise<void> {
    await this.endpoint?.stop();
    await this.queueSet?.close();
    await closeRedis(this.conn);
  }
}
