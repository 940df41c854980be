/**
 * The fleet as Redis holds it: one heartbeat key per worker process (with a
 * TTL, so a dead process disappears by itself), an index of ids, per-worker
 * command keys, and per-minute throughput counters. Worker processes write it
 * (runtime/heartbeat.ts); the board and the CLI read it and send commands here.
 *
 * No CLIENT LIST: managed Redis services often forbid it, and it cannot say
 * what a connection is doing anyway.
 */
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../redis/connections.ts';
import { keys } from './names.ts';
import type { SupervisorInfo } from '../runtime/supervised.ts';

/** What one worker process says about itself on every beat. */
export interface WorkerBeat {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  /** Jobs running right now. */
  busy: number;
  /** Since the process started. */
  processed: number;
  failed: number;
  rssBytes: number;
  /** Event-loop delay over the last interval: mean and max (ms). */
  lagMs: number;
  lagMaxMs: number;
  /** Round trip of the previous beat's write (ms); null before the second beat. */
  rttMs: number | null;
  /** running: taking jobs; quiet: running what it has, taking no more; stopping: draining before exit. */
  state: 'running' | 'quiet' | 'stopping';
  startedAt: number;
  beatAt: number;
  intervalMs: number;
  ttlMs: number;
  node: string;
  /** Set when a supervisor (`conveyor worker --processes N`) runs this process: its id, this slot, the restarts. */
  supervisor?: SupervisorInfo;
}

export type WorkerCommandName = 'quiet' | 'stop';

export interface WorkerCommand {
  /** Unique per command: a worker obeys each once, whether it came by pub/sub or by its command key. */
  id: string;
  command: WorkerCommandName;
  /** Worker ids, or '*' for every worker (pub/sub only; command keys are per worker). */
  targets: string[] | '*';
  by: string;
  at: number;
}

export interface Throughput {
  /** Start of each minute (epoch ms), oldest first. */
  minutes: number[];
  /** Sum over queues, one number per minute. */
  processed: number[];
  failed: number[];
  dead: number[];
  byQueue: Map<string, { processed: number[]; failed: number[]; dead: number[] }>;
}

export type ThroughputKind = 'processed' | 'failed' | 'dead';
const KIND_FIELD: Record<ThroughputKind, string> = { processed: 'p', failed: 'f', dead: 'd' };

/** Hash field of a throughput bucket: queue names never hold "|". */
export function throughputField(queue: string, kind: ThroughputKind): string {
  return `${queue}|${KIND_FIELD[kind]}`;
}

/** Throughput buckets outlive the one-hour chart by a margin. */
export const THROUGHPUT_KEEP_S = 2 * 3600;
/** A command key outlives a few missed beats; an unclaimed command (its worker died) then vanishes. */
export const COMMAND_TTL_MS = 60_000;

export const minuteOf = (ms: number): number => Math.floor(ms / 60_000);

export function encodeCommand(c: WorkerCommand): string {
  return JSON.stringify(c);
}

export function decodeCommand(raw: string | null | undefined): WorkerCommand | undefined {
  if (!raw) return undefined;
  try {
    const c = JSON.parse(raw) as WorkerCommand;
    if (typeof c.id !== 'string' || (c.command !== 'quiet' && c.command !== 'stop')) return undefined;
    return c;
  } catch {
    return undefined;
  }
}

export class Fleet {
  private readonly conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.conn = conn;
  }

  /**
   * Live workers, by host then pid. The index may name ids whose key expired
   * (a killed process): those are skipped; the heartbeats prune the index.
   */
  async list(): Promise<WorkerBeat[]> {
    const ids = await this.conn.zrange(keys.workerIndex, 0, '-1');
    if (ids.length === 0) return [];
    // One MGET: every key shares the {fleet} hash slot.
    const raws = await this.conn.mget(...ids.map((id) => keys.workerBeat(id)));
    const out: WorkerBeat[] = [];
    for (const raw of raws) {
      if (!raw) continue;
      try {
        out.push(JSON.parse(raw) as WorkerBeat);
      } catch {
        // not ours
      }
    }
    return out.sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<WorkerBeat | undefined> {
    const raw = await this.conn.get(keys.workerBeat(id));
    return raw ? (JSON.parse(raw) as WorkerBeat) : undefined;
  }

  /** Queue name → live workers consuming it that are taking jobs (not quiet, not stopping). */
  async consumers(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const w of await this.list()) {
      if (w.state !== 'running') continue;
      for (const q of w.queues) out.set(q, (out.get(q) ?? 0) + 1);
    }
    return out;
  }

  /**
   * Tells workers to quiet or stop: a command key per target (its next beat
   * reads it, so a worker that missed the message still obeys) and one
   * message on the control channel (obeyed at once). `'all'` means every
   * worker live now. Returns the ids addressed.
   */
  async command(command: WorkerCommandName, target: string | 'all', by: string, { publish = true }: { publish?: boolean } = {}): Promise<string[]> {
    const live = (await this.list()).map((w) => w.id);
    const targets = target === 'all' ? live : live.filter((id) => id === target);
    if (targets.length === 0) return [];
    const cmd: WorkerCommand = { id: randomUUID(), command, targets, by, at: Date.now() };
    const raw = encodeCommand(cmd);
    const m = this.conn.multi();
    for (const id of targets) m.set(keys.workerCommand(id), raw, 'PX', COMMAND_TTL_MS);
    await m.exec();
    if (publish) await this.conn.publish(keys.controlChannel, raw);
    return targets;
  }

  /** Jobs per minute over the last `minutes` minutes (the current minute last, still filling). */
  async throughput(minutes = 60, now = Date.now()): Promise<Throughput> {
    const last = minuteOf(now);
    const mins = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i);
    const p = this.conn.pipeline();
    for (const m of mins) p.hgetall(keys.throughput(m));
    const replies = (await p.exec()) ?? [];
    const zero = () => new Array<number>(minutes).fill(0);
    const t: Throughput = { minutes: mins.map((m) => m * 60_000), processed: zero(), failed: zero(), dead: zero(), byQueue: new Map() };
    replies.forEach(([err, hash], i) => {
      if (err || !hash) return;
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const bar = field.lastIndexOf('|');
        const queue = field.slice(0, bar);
        const kind = ({ p: 'processed', f: 'failed', d: 'dead' } as const)[field.slice(bar + 1) as 'p' | 'f' | 'd'];
        if (!kind) continue;
        const n = Number(value) || 0;
        let q = t.byQueue.get(queue);
        if (!q) t.byQueue.set(queue, (q = { processed: zero(), failed: zero(), dead: zero() }));
        q[kind][i]! += n;
        t[kind][i]! += n;
      }
    });
    return t;
  }
}
