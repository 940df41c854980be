/**
 * One BullMQ Queue object per Conveyor queue (and per dead-letter queue) on a
 * shared connection, built once and reused: constructing a Queue per request
 * would cost a round trip and an object per enqueue.
 */
import { Queue, FlowProducer, type Telemetry } from 'bullmq';
import type { RedisConnection } from '../redis/connections.ts';
import { PREFIX, bullName, deadBullName, keys } from './names.ts';

export class QueueSet {
  readonly connection: RedisConnection;
  private readonly sources = new Map<string, Queue>();
  private readonly deads = new Map<string, Queue>();
  /** Per queue: the registration in flight, or true once Redis confirmed it. */
  private readonly registered = new Map<string, Promise<unknown> | true>();
  private flow: FlowProducer | undefined;
  /** OpenTelemetry (bullmq-otel) for the Queues and the FlowProducer; undefined = untraced. */
  private readonly telemetry: Telemetry | undefined;

  constructor(connection: RedisConnection, opts: { telemetry?: Telemetry } = {}) {
    this.connection = connection;
    this.telemetry = opts.telemetry;
  }

  /** The BullMQ queue of a Conveyor queue. */
  source(queue: string): Queue {
    let q = this.sources.get(queue);
    if (!q) {
      q = new Queue(bullName(queue), { connection: this.connection, prefix: PREFIX, skipWaitingForReady: true, telemetry: this.telemetry });
      q.on('error', () => {}); // connection errors surface on the command that hit them
      this.sources.set(queue, q);
    }
    return q;
  }

  /** The BullMQ queue holding a Conveyor queue's dead letters. */
  dead(queue: string): Queue {
    let q = this.deads.get(queue);
    if (!q) {
      // skipMetasUpdate: a Queue object writes its meta hash when built, so a mere lookup of a
      // dead letter (GET of an unknown job id) would write to Redis. The dead queue is only a
      // store; BullMQ's scripts take defaults when its meta is absent.
      q = new Queue(deadBullName(queue), { connection: this.connection, prefix: PREFIX, skipWaitingForReady: true, skipMetasUpdate: true });
      q.on('error', () => {});
      this.deads.set(queue, q);
    }
    return q;
  }

  /** FlowProducer: the public BullMQ API that adds many jobs in one MULTI (atomic bulk). */
  flowProducer(): FlowProducer {
    if (!this.flow) {
      this.flow = new FlowProducer({ connection: this.connection, prefix: PREFIX, skipWaitingForReady: true, telemetry: this.telemetry });
      this.flow.on('error', () => {});
    }
    return this.flow;
  }

  /**
   * Adds the queue to the registry set once per process (the board and the
   * API list queues from it; SCANning the keyspace would walk every job key).
   */
  async register(queue: string): Promise<void> {
    let p = this.registered.get(queue);
    if (p === true) return;
    if (!p) {
      p = this.connection.sadd(keys.queueRegistry, queue).then(
        () => this.registered.set(queue, true),
        (err: unknown) => {
          this.registered.delete(queue);
          throw err;
        },
      );
      this.registered.set(queue, p);
    }
    await p;
  }

  /** True once the queue is in the registry set (then register() need not be awaited: the enqueue hot path). */
  isRegistered(queue: string): boolean {
    return this.registered.get(queue) === true;
  }

  async close(): Promise<void> {
    const all: Promise<unknown>[] = [];
    for (const q of this.sources.values()) all.push(q.close());
    for (const q of this.deads.values()) all.push(q.close());
    if (this.flow) all.push(this.flow.close());
    await Promise.allSettled(all);
    this.sources.clear();
    this.deads.clear();
    this.flow = undefined;
  }
}
