/**
 * The fleet heartbeat of one worker process, attached to its WorkerHost
 * through the host's events (the host knows nothing of it).
 *
 * Every HEARTBEAT_INTERVAL_MS it sends ONE MULTI: the beat key (with a TTL),
 * the index entry, the per-minute throughput counters since the last beat,
 * and GET+DEL of its command key. Jobs only bump counters in memory: nothing
 * touches Redis per job. Commands also arrive at once on the control channel
 * (pub/sub); the command key is the fallback for a missed message (a
 * subscriber reconnecting during a failover), and each command is obeyed once.
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../log.ts';
import { closeRedis, createRedis, type RedisConnection } from '../redis/connections.ts';
import { keys } from '../queue/names.ts';
import {
  decodeCommand,
  minuteOf,
  throughputField,
  THROUGHPUT_KEEP_S,
  type ThroughputKind,
  type WorkerBeat,
  type WorkerCommand,
} from '../queue/fleet.ts';
import type { WorkerHost } from './worker-host.ts';
import { supervisorInfo } from './supervised.ts';

/**
 * Event-loop delay sampling interval (ms). Each sample wakes the process: at
 * 10 ms that was two thirds of an idle worker's CPU (7 of 11 ms per second);
 * at 100 ms a blocked loop still shows in the max, and the mean is over ten
 * samples a second.
 */
const LAG_RESOLUTION_MS = 100;

export interface HeartbeatOptions {
  logger: Logger;
  /** Default: the host config's heartbeatIntervalMs / heartbeatTtlMs. */
  intervalMs?: number;
  ttlMs?: number;
  /**
   * What "stop" does. Default: stop the WorkerHost. A worker process passes a
   * function that shuts the whole process down the way SIGTERM does.
   */
  onStop?: () => void;
}

export class Heartbeat {
  private readonly host: WorkerHost;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly onStop: () => void;
  private conn: RedisConnection | undefined;
  private sub: RedisConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lag: IntervalHistogram | undefined;
  private state: WorkerBeat['state'] = 'running';
  private startedAt = Date.now();
  private rttMs: number | null = null;
  private beating: Promise<void> | undefined;
  /** Counts since the last beat that reached Redis: "queue|kind" → n. */
  private pending = new Map<string, number>();
  private readonly fields = new Map<string, Record<ThroughputKind, string>>();
  private readonly obeyed = new Set<string>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private beatAt: number | undefined;
  private writtenAt: number | undefined;

  constructor(host: WorkerHost, opts: HeartbeatOptions) {
    this.host = host;
    this.log = opts.logger.child({ part: 'heartbeat' });
    this.intervalMs = opts.intervalMs ?? host.config.heartbeatIntervalMs;
    this.ttlMs = opts.ttlMs ?? host.config.heartbeatTtlMs;
    this.onStop = opts.onStop ?? (() => void host.stop());
    byWorker.set(host.id, this);
    host.on('started', () => this.start());
    host.on('job-completed', (queue) => this.count(queue, 'processed'));
    host.on('job-failed', (queue, _job, _err, final) => {
      this.count(queue, 'failed');
      if (final) this.count(queue, 'dead');
    });
    host.on('stopping', () => {
      this.state = 'stopping';
      void this.beat();
    });
    host.on('stopped', () => {
      this.closing = this.close();
    });
  }

  /** Resolves once the host stopped and this worker left the fleet (its key removed, connections closed). */
  async done(): Promise<void> {
    await this.closing;
  }

  /** The state the next beat reports. */
  get current(): WorkerBeat['state'] {
    return this.state;
  }

  /** When the last beat began (ms; undefined before the first): the beat loop runs, Redis or not. */
  get lastBeatAt(): number | undefined {
    return this.beatAt;
  }

  /** When a beat last reached Redis (ms; undefined before the first). */
  get lastWrittenAt(): number | undefined {
    return this.writtenAt;
  }

  /**
   * For a worker's probes (GET /healthz, /readyz on METRICS_PORT). live: the
   * host runs (or drains) and the beat loop began a beat within the TTL; a
   * Redis outage leaves a worker live (restarting it would not help). ready:
   * live, running, not quiet or stopping, and both its own Redis connection
   * and the heartbeat's are connected.
   */
  health(now = Date.now()): { live: boolean; ready: boolean; detail: Record<string, unknown> } {
    const lifecycle = this.host.lifecycle;
    const beatAgeMs = this.beatAt === undefined ? undefined : now - this.beatAt;
    const beating = beatAgeMs !== undefined && beatAgeMs <= this.ttlMs;
    const live = (lifecycle === 'running' || lifecycle === 'stopping') && beating;
    const redis = this.host.connection?.status ?? 'none';
    const heartbeatRedis = this.conn?.status ?? 'none';
    const connected = redis === 'ready' && heartbeatRedis === 'ready';
    const ready = live && lifecycle === 'running' && this.state === 'running' && connected;
    return { live, ready, detail: { worker: this.host.id, lifecycle, state: this.state, beatAgeMs, lastWrittenAt: this.writtenAt, redis, heartbeatRedis } };
  }

  private count(queue: string, kind: ThroughputKind): void {
    // The hash field names, built once per queue: this runs for every job.
    let fields = this.fields.get(queue);
    if (!fields) {
      fields = { processed: throughputField(queue, 'processed'), failed: throughputField(queue, 'failed'), dead: throughputField(queue, 'dead') };
      this.fields.set(queue, fields);
    }
    const f = fields[kind];
    this.pending.set(f, (this.pending.get(f) ?? 0) + 1);
  }

  private start(): void {
    const { config } = this.host;
    this.startedAt = Date.now();
    // Its own connections: the beat must not queue behind BullMQ's commands,
    // and the last beat (removing the key) runs after the host closed its own.
    this.conn = createRedis(config.redis, { role: 'producer', tlsCa: config.redisTlsCa, commandTimeoutMs: Math.max(this.intervalMs, 1000), logger: this.log, name: 'conveyor-heartbeat' });
    this.sub = createRedis(config.redis, { role: 'subscriber', tlsCa: config.redisTlsCa, logger: this.log, name: 'conveyor-control' });
    this.sub.on('message', (_channel: string, raw: string) => this.onCommand(decodeCommand(raw), 'pubsub'));
    this.sub.subscribe(keys.controlChannel).catch((err: unknown) => this.log.warn({ err: String(err) }, 'could not subscribe to the control channel; commands arrive with the next beat'));
    this.lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.lag.enable();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
    void this.beat();
  }

  /** Writes one beat now (tests call it to avoid waiting an interval). Beats never overlap. */
  beat(): Promise<void> {
    if (!this.conn || this.closed) return Promise.resolve();
    this.beatAt = Date.now();
    this.beating ??= this.write().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private snapshot(now: number): WorkerBeat {
    const lag = this.lag;
    // The histogram's samples include its own sampling interval: the lag is what lies beyond it.
    const mean = lag && lag.count > 0 ? Math.max(0, lag.mean / 1e6 - LAG_RESOLUTION_MS) : 0;
    const max = lag && lag.count > 0 ? Math.max(0, lag.max / 1e6 - LAG_RESOLUTION_MS) : 0;
    lag?.reset();
    const s = this.host.stats;
    const supervisor = supervisorInfo();
    return {
      id: this.host.id,
      host: hostname(),
      pid: process.pid,
      queues: [...this.host.queues],
      concurrency: this.host.config.concurrency,
      busy: s.active,
      processed: s.processed,
      failed: s.failed,
      rssBytes: process.memoryUsage.rss(),
      lagMs: Math.round(mean * 100) / 100,
      lagMaxMs: Math.round(max * 100) / 100,
      rttMs: this.rttMs,
      state: this.state,
      startedAt: this.startedAt,
      beatAt: now,
      intervalMs: this.intervalMs,
      ttlMs: this.ttlMs,
      node: process.version,
      ...(supervisor ? { supervisor } : {}),
    };
  }

  private async write(): Promise<void> {
    const conn = this.conn!;
    const id = this.host.id;
    const now = Date.now();
    const counts = this.pending;
    this.pending = new Map();
    const bucket = keys.throughput(minuteOf(now));
    const m = conn.multi();
    m.set(keys.workerBeat(id), JSON.stringify(this.snapshot(now)), 'PX', this.ttlMs);
    m.zadd(keys.workerIndex, now, id);
    // Entries of processes gone for a while (their keys expired long ago).
    m.zremrangebyscore(keys.workerIndex, '-inf', now - this.ttlMs * 10);
    for (const [field, n] of counts) m.hincrby(bucket, field, n);
    if (counts.size > 0) m.expire(bucket, THROUGHPUT_KEEP_S);
    m.get(keys.workerCommand(id));
    m.del(keys.workerCommand(id));
    try {
      const replies = (await m.exec()) ?? [];
      this.rttMs = Date.now() - now;
      this.writtenAt = now;
      const cmdReply = replies[replies.length - 2];
      if (cmdReply && !cmdReply[0]) this.onCommand(decodeCommand(cmdReply[1] as string | null), 'key');
    } catch (err) {
      // Not written: keep the counts for the next beat.
      for (const [f, n] of counts) this.pending.set(f, (this.pending.get(f) ?? 0) + n);
      this.log.debug({ err: String(err) }, 'heartbeat not written; next interval');
    }
  }

  private onCommand(cmd: WorkerCommand | undefined, via: 'pubsub' | 'key'): void {
    if (!cmd || this.obeyed.has(cmd.id)) return;
    if (cmd.targets !== '*' && !cmd.targets.includes(this.host.id)) return;
    this.obeyed.add(cmd.id);
    this.log.info({ command: cmd.command, by: cmd.by, via }, `fleet command: ${cmd.command}`);
    if (cmd.command === 'quiet') {
      if (this.state !== 'running') return;
      this.state = 'quiet';
      this.host.quiet().then(
        () => this.beat(),
        (err: unknown) => this.log.warn({ err: String(err) }, 'quiet failed'),
      );
    } else if (cmd.command === 'stop') {
      this.onStop();
    }
  }

  /** After the host stopped: one last write removes this worker from the fleet. */
  private async close(): Promise<void> {
    if (this.closed) return;
    await this.beating?.catch(() => {});
    this.closed = true;
    clearInterval(this.timer);
    this.lag?.disable();
    const conn = this.conn;
    if (conn) {
      const m = conn.multi();
      m.del(keys.workerBeat(this.host.id));
      m.zrem(keys.workerIndex, this.host.id);
      const bucket = keys.throughput(minuteOf(Date.now()));
      for (const [field, n] of this.pending) m.hincrby(bucket, field, n);
      if (this.pending.size > 0) m.expire(bucket, THROUGHPUT_KEEP_S);
      await m.exec().catch((err: unknown) => this.log.debug({ err: String(err) }, 'could not remove the heartbeat; it expires by itself'));
    }
    await closeRedis(this.sub);
    await closeRedis(conn);
    this.sub = undefined;
    this.conn = undefined;
    if (byWorker.get(this.host.id) === this) byWorker.delete(this.host.id);
  }
}

/** The heartbeat of each worker host in this process, by worker id (until it left the fleet). */
const byWorker = new Map<string, Heartbeat>();

/** The heartbeat attached to the worker with this id in this process (a worker process's probes read it). */
export function heartbeatOf(workerId: string): Heartbeat | undefined {
  return byWorker.get(workerId);
}

/** Attaches the fleet heartbeat to a WorkerHost (before start()). */
export function attachHeartbeat(host: WorkerHost, opts: HeartbeatOptions): Heartbeat {
  return new Heartbeat(host, opts);
}
