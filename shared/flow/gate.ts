/**
 * FlowGate: the JavaScript side of the gate's scripts (gate-scripts.ts), on
 * one connection. Producers park jobs through it (inside the enqueue's own
 * MULTI), workers release finished jobs, check jobs the gate did not admit
 * and tick each gated queue; the inspector reads what it holds.
 */
import type { RedisConnection } from '../redis/connections.ts';
import { bullName, PREFIX } from '../queue/names.ts';
import { JOB_STATE, PARK, RELEASE, START, STATUS, TICK, WAKE } from './gate-scripts.ts';
import { NO_KEY } from './limits.ts';

/**
 * How many jobs the gate lets wait in BullMQ's wait list beyond the number
 * running now (BullMQ's active list): enough that workers never wait for the
 * gate, few enough that a new key's job starts after at most this many plus
 * one round of the running jobs of another key's.
 */
export const GATE_BUFFER = 256;

/** How long a process trusts what it last read about a queue being gated. */
export const GATED_CACHE_MS = 1000;

export interface Parked {
  id: string;
  key: string;
  priority: number;
}

export interface TickResult {
  gated: boolean;
  admitted: number;
  held: number;
  /** Slots given back by the check (jobs that finished without telling the gate). */
  released: number;
}

export interface KeyBacklog {
  /** The key ("(no key)" is NO_KEY_LABEL; here it is NO_KEY). */
  key: string;
  held: number;
  running: number;
  /** Why its next job waits: at its concurrency, asleep until its rate window opens, or its turn. */
  waitingOn: 'key-concurrency' | 'key-rate' | 'turn' | 'nothing';
}

export interface GateStatus {
  held: number;
  admitted: number;
  hits: { 'key-concurrency': number; 'key-rate': number };
  keys: KeyBacklog[];
}

interface GateCommands {
  conveyorFlowPark(key: string, base: string, buffer: number, now: number, ...triples: (string | number)[]): Promise<number>;
  conveyorFlowRelease(key: string, base: string, buffer: number, now: number, ...ids: string[]): Promise<number>;
  conveyorFlowStart(key: string, base: string, buffer: number, now: number, id: string, flowKey: string, priority: number): Promise<number>;
  conveyorFlowTick(key: string, base: string, buffer: number, now: number, check: number): Promise<[number, number, number, number]>;
  conveyorFlowWake(key: string, base: string, buffer: number, now: number): Promise<number>;
  conveyorFlowStatus(key: string, base: string, top: number): Promise<unknown[]>;
  conveyorFlowJobState(key: string, base: string, id: string, flowKey: string): Promise<[number, string, number]>;
}

const defined = new WeakSet<object>();

/** ioredis custom commands (EVALSHA, loaded on first use; pipelines and MULTI load them too). */
function withCommands(conn: RedisConnection): RedisConnection & GateCommands {
  if (!defined.has(conn)) {
    conn.defineCommand('conveyorFlowPark', { numberOfKeys: 1, lua: PARK });
    conn.defineCommand('conveyorFlowRelease', { numberOfKeys: 1, lua: RELEASE });
    conn.defineCommand('conveyorFlowStart', { numberOfKeys: 1, lua: START });
    conn.defineCommand('conveyorFlowTick', { numberOfKeys: 1, lua: TICK });
    conn.defineCommand('conveyorFlowWake', { numberOfKeys: 1, lua: WAKE });
    conn.defineCommand('conveyorFlowStatus', { numberOfKeys: 1, lua: STATUS });
    conn.defineCommand('conveyorFlowJobState', { numberOfKeys: 1, lua: JOB_STATE });
    defined.add(conn);
  }
  return conn as RedisConnection & GateCommands;
}

/** The queue's BullMQ key prefix ("conveyor:{q}:"): every gate key is under it. */
export function queueBase(queue: string): string {
  return `${PREFIX}:${bullName(queue)}:`;
}

export const flowKeys = {
  /** The gate's own limits (what the scripts read); absent = the queue is not gated. */
  gate: (queue: string) => `${queueBase(queue)}flow:limits`,
  /** The queue's limits as set (JSON {limits, managedBy, updatedAt}). */
  config: (queue: string) => `${queueBase(queue)}flow:config`,
  overrides: (queue: string) => `${queueBase(queue)}flow:overrides`,
} as const;

export class FlowGate {
  private readonly conn: RedisConnection & GateCommands;
  private readonly buffer: number;
  private readonly gatedCache = new Map<string, { gated: boolean; at: number }>();
  private readonly now: () => number;

  constructor(conn: RedisConnection, opts: { buffer?: number; now?: () => number } = {}) {
    this.conn = withCommands(conn);
    this.buffer = opts.buffer ?? GATE_BUFFER;
    this.now = opts.now ?? Date.now;
  }

  /** True when the queue holds jobs in the gate (read at most once a second per process). */
  isGated(queue: string): boolean | Promise<boolean> {
    const c = this.gatedCache.get(queue);
    if (c && this.now() - c.at < GATED_CACHE_MS) return c.gated;
    return this.conn.exists(flowKeys.gate(queue)).then((n) => this.remember(queue, n === 1));
  }

  /** What a tick or a change of limits just learned. */
  remember(queue: string, gated: boolean): boolean {
    this.gatedCache.set(queue, { gated, at: this.now() });
    return gated;
  }

  /** Queues the park of jobs BullMQ adds earlier on the same MULTI (all of one queue). */
  park(multi: object, queue: string, jobs: readonly Parked[]): void {
    const args: (string | number)[] = [];
    for (const j of jobs) args.push(j.id, j.key, j.priority);
    (multi as unknown as GateCommands).conveyorFlowPark(flowKeys.gate(queue), queueBase(queue), this.buffer, this.now(), ...args);
  }

  /** Finished jobs give their slots back (ids the gate never admitted are ignored). */
  release(queue: string, ids: readonly string[]): Promise<number> {
    return this.conn.conveyorFlowRelease(flowKeys.gate(queue), queueBase(queue), this.buffer, this.now(), ...ids);
  }

  /** For a job the gate may not have admitted: true = run it; false = it went back into the gate. */
  async start(queue: string, id: string, key: string | undefined, priority: number): Promise<boolean> {
    return (await this.conn.conveyorFlowStart(flowKeys.gate(queue), queueBase(queue), this.buffer, this.now(), id, key ?? NO_KEY, priority)) === 1;
  }

  /** Wakes rate-limited keys, re-checks `check` admitted jobs, admits; remembers whether the queue is gated. */
  async tick(queue: string, check = 0): Promise<TickResult> {
    const [gated, admitted, held, released] = await this.conn.conveyorFlowTick(flowKeys.gate(queue), queueBase(queue), this.buffer, this.now(), check);
    this.remember(queue, gated === 1);
    return { gated: gated === 1, admitted, held, released };
  }

  /** After a change of limits: keys waiting on a limit get their turn again at once; returns the jobs admitted. */
  wake(queue: string): Promise<number> {
    return this.conn.conveyorFlowWake(flowKeys.gate(queue), queueBase(queue), this.buffer, this.now());
  }

  /** How many jobs the gate holds (0 for a queue never gated). */
  async heldCount(queue: string): Promise<number> {
    return Number((await this.conn.hget(`${queueBase(queue)}flow:stats`, 'held')) ?? 0);
  }

  /** Held and admitted counts, limit hits and the `top` largest backlogs. */
  async status(queue: string, top = 10): Promise<GateStatus> {
    const r = await this.conn.conveyorFlowStatus(flowKeys.gate(queue), queueBase(queue), top);
    const [held, admitted, hitsC, hitsR] = r as number[];
    const keys = (r.slice(4) as [string, number, number, string][]).map(([key, h, running, state]) => ({
      key,
      held: h,
      running,
      waitingOn: state === 'c' ? 'key-concurrency' : state === 's' ? 'key-rate' : state === 'r' ? 'turn' : 'nothing',
    })) as KeyBacklog[];
    return { held: held ?? 0, admitted: admitted ?? 0, hits: { 'key-concurrency': hitsC ?? 0, 'key-rate': hitsR ?? 0 }, keys };
  }

  /** Where one job stands: held by the gate (and why), or admitted. */
  async jobState(queue: string, id: string, key: string | undefined): Promise<{ held: boolean; keyState: string; admitted: boolean }> {
    const [held, keyState, admitted] = await this.conn.conveyorFlowJobState(flowKeys.gate(queue), queueBase(queue), id, key ?? NO_KEY);
    return { held: held === 1, keyState, admitted: admitted === 1 };
  }
}
