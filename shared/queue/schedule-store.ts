/**
 * The schedule index: one Redis hash, `conveyor:schedules`, mapping a schedule
 * id to its definition and state. It is the source of truth; the BullMQ job
 * scheduler in the schedule's queue is what makes it run, and repair brings
 * the two back in line. A schedule is found by id without knowing its queue.
 *
 * Changes to one schedule are serialised across processes by a short lock
 * (SET NX PX), because a change touches several keys in different hash slots
 * (the index, the old queue, the new queue) that no one script can cover.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConveyorError } from '../errors.ts';
import type { RedisConnection } from '../redis/connections.ts';
import { keys } from './names.ts';
import type { ScheduleDefinition } from './schedule-input.ts';

export type ManagedBy = 'api' | 'config';

export interface StoredSchedule extends ScheduleDefinition {
  paused: boolean;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

const LOCK_TTL_MS = 5000;
// KEYS[1] lock key; ARGV[1] the holder's token. Deletes the lock only if it is still ours.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function decode(raw: string | null | undefined): StoredSchedule | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as StoredSchedule;
  } catch {
    return undefined; // written by something else; repair and the API treat it as absent
  }
}

export class ScheduleStore {
  private readonly conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.conn = conn;
  }

  async read(id: string): Promise<StoredSchedule | undefined> {
    return decode(await this.conn.hget(keys.schedules, id));
  }

  async readAll(): Promise<Map<string, StoredSchedule>> {
    const all = await this.conn.hgetall(keys.schedules);
    const out = new Map<string, StoredSchedule>();
    for (const id of Object.keys(all).sort()) {
      const s = decode(all[id]);
      if (s) out.set(id, s);
    }
    return out;
  }

  async write(id: string, s: StoredSchedule): Promise<void> {
    await this.conn.hset(keys.schedules, id, JSON.stringify(s));
  }

  async delete(id: string): Promise<boolean> {
    return (await this.conn.hdel(keys.schedules, id)) === 1;
  }

  /**
   * Runs fn holding the schedule's lock, waiting for it up to its TTL (a
   * holder that died frees it by then). With `wait: false` it answers
   * undefined at once when the lock is taken (repair skips busy schedules).
   */
  async withLock<T>(id: string, fn: () => Promise<T>, { wait = true } = {}): Promise<T | undefined> {
    const key = keys.scheduleLock(id);
    const token = randomUUID();
    const deadline = Date.now() + LOCK_TTL_MS + 1000;
    while ((await this.conn.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      if (!wait) return undefined;
      if (Date.now() > deadline) {
        throw new ConveyorError('REDIS_UNAVAILABLE', `schedule "${id}" is being changed by another process and stayed locked for ${LOCK_TTL_MS} ms; retry`);
      }
      await sleep(10 + Math.random() * 30);
    }
    try {
      return await fn();
    } finally {
      await this.conn.eval(RELEASE, 1, key, token).catch(() => {}); // it expires by itself otherwise
    }
  }
}
