/**
 * A queue's limits, set at run time (API, CLI, library, dashboard) or by the
 * LIMITS file, stored in Redis in the queue's hash slot. Queue-wide limits are
 * BullMQ's own global concurrency and rate limit (its queue meta: every worker
 * reads them on each fetch, so a change holds fleet-wide at once); per-key
 * limits are the gate's (gate-scripts.ts), which workers re-read every tick.
 */
import { readFile } from 'node:fs/promises';
import { ConveyorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import { assertQueueName } from '../queue/producer.ts';
import { keys } from '../queue/names.ts';
import { FlowGate, flowKeys } from './gate.ts';
import { parseLimits, type QueueLimits } from './limits.ts';

export type LimitsManager = 'api' | 'config';

export interface LimitsView {
  queue: string;
  limits: QueueLimits;
  /** Who set them: "config" (the LIMITS file: change them there) or "api"; null when none are set. */
  managedBy: LimitsManager | null;
  updatedAt: string | null;
}

interface Stored {
  limits: QueueLimits;
  managedBy: LimitsManager;
  updatedAt: string;
}

export class LimitsStore {
  private readonly queues: QueueSet;
  readonly gate: FlowGate;

  constructor(queues: QueueSet, gate: FlowGate) {
    this.queues = queues;
    this.gate = gate;
  }

  async get(queue: string): Promise<LimitsView> {
    assertQueueName(queue);
    const s = await this.read(queue);
    return s ? { queue, ...s } : { queue, limits: {}, managedBy: null, updatedAt: null };
  }

  /**
   * Replaces the queue's limits (absent fields: no limit). Validated first:
   * bad input changes nothing. Limits from the LIMITS file can only be
   * changed there (409 LIMITS_MANAGED_BY_CONFIG).
   */
  async set(queue: string, raw: unknown, { managedBy = 'api' }: { managedBy?: LimitsManager } = {}): Promise<LimitsView> {
    assertQueueName(queue);
    const limits = parseLimits(raw, 'limits');
    await this.assertManageable(queue, managedBy);
    const stored: Stored = { limits, managedBy, updatedAt: new Date().toISOString() };
    await this.write(queue, stored);
    return { queue, ...stored };
  }

  /** Removes every limit of the queue; held jobs drain into the queue round-robin. */
  async clear(queue: string, { managedBy = 'api' }: { managedBy?: LimitsManager } = {}): Promise<LimitsView> {
    assertQueueName(queue);
    await this.assertManageable(queue, managedBy);
    await this.write(queue, undefined);
    return { queue, limits: {}, managedBy: null, updatedAt: null };
  }

  /** Every queue with limits. */
  async list(): Promise<LimitsView[]> {
    const names = (await this.queues.connection.smembers(keys.queueRegistry)).sort();
    const views = await Promise.all(names.map((q) => this.get(q)));
    return views.filter((v) => v.managedBy !== null);
  }

  private async assertManageable(queue: string, by: LimitsManager): Promise<void> {
    if (by === 'config') return;
    const s = await this.read(queue);
    if (s?.managedBy === 'config') {
      throw new ConveyorError('LIMITS_MANAGED_BY_CONFIG', `the limits of queue "${queue}" come from the LIMITS file; change them there`, { queue });
    }
  }

  private async read(queue: string): Promise<Stored | undefined> {
    const raw = await this.queues.connection.get(flowKeys.config(queue));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Stored;
    } catch {
      return undefined;
    }
  }

  private async write(queue: string, s: Stored | undefined): Promise<void> {
    await this.queues.register(queue);
    const l = s?.limits ?? {};
    // Queue-wide: BullMQ's global limits (its meta hash, read by every worker on each fetch).
    const q = this.queues.source(queue);
    if (l.concurrency !== undefined) await q.setGlobalConcurrency(l.concurrency);
    else await q.removeGlobalConcurrency();
    if (l.rate) await q.setGlobalRateLimit(l.rate.max, l.rate.perMs);
    else await q.removeGlobalRateLimit();
    // Per key: the gate's compact form, read by its scripts.
    const m = this.queues.connection.multi();
    if (s) m.set(flowKeys.config(queue), JSON.stringify(s));
    else m.del(flowKeys.config(queue));
    m.del(flowKeys.overrides(queue));
    const pk = l.perKey;
    if (pk) {
      const overrides = Object.entries(pk.overrides ?? {});
      m.set(flowKeys.gate(queue), JSON.stringify({ c: pk.concurrency, r: pk.rate ? [pk.rate.max, pk.rate.perMs] : undefined, o: overrides.length > 0 || undefined }));
      if (overrides.length > 0) {
        m.hset(flowKeys.overrides(queue), Object.fromEntries(overrides.map(([k, o]) => [k, JSON.stringify({ c: o.concurrency, r: o.rate ? [o.rate.max, o.rate.perMs] : undefined })])));
      }
    } else {
      m.del(flowKeys.gate(queue));
    }
    const results = (await m.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    this.gate.remember(queue, Boolean(pk));
    // Raised limits (or none) let held jobs go now, not at the keys' next release.
    await this.gate.wake(queue);
  }
}

export interface LimitsFileResult {
  applied: string[];
  removed: string[];
}

/**
 * The LIMITS file: {"<queue>": {limits}, …}, applied when the server and each
 * worker start. Config wins: its queues' limits are marked managedBy
 * "config" (the API cannot change them), and a queue that was in the file
 * and no longer is loses its limits. The whole file is validated first.
 */
export async function applyLimitsFile(store: LimitsStore, path: string, { logger = silentLogger }: { logger?: Logger } = {}): Promise<LimitsFileResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConveyorError('CONFIG_INVALID', `LIMITS=${path}: cannot read the file (${(err as Error).message})`, { variable: 'LIMITS' }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConveyorError('CONFIG_INVALID', `LIMITS=${path}: not valid JSON (${(err as Error).message})`, { variable: 'LIMITS' });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConveyorError('CONFIG_INVALID', `LIMITS=${path}: expected an object of queue name → limits`, { variable: 'LIMITS' });
  }
  const wanted = new Map<string, QueueLimits>();
  for (const [queue, raw] of Object.entries(doc)) {
    try {
      assertQueueName(queue);
      wanted.set(queue, parseLimits(raw, queue));
    } catch (err) {
      throw new ConveyorError('CONFIG_INVALID', `LIMITS=${path}: ${(err as Error).message}`, { variable: 'LIMITS', queue });
    }
  }
  const result: LimitsFileResult = { applied: [], removed: [] };
  for (const [queue, limits] of wanted) {
    await store.set(queue, limits, { managedBy: 'config' });
    result.applied.push(queue);
  }
  for (const v of await store.list()) {
    if (v.managedBy !== 'config' || wanted.has(v.queue)) continue;
    await store.clear(v.queue, { managedBy: 'config' });
    result.removed.push(v.queue);
  }
  logger.info({ file: path, applied: result.applied, removed: result.removed }, 'limits file applied');
  return result;
}
