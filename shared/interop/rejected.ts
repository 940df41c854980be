/**
 * The rejected list: payloads the bridge could not turn into jobs (not JSON,
 * no class, a name Conveyor refuses, too large), each with the reason, never
 * dropped silently. Newest first. The CLI reads it (`conveyor interop rejected`).
 */
import type { RedisConnection } from '../redis/connections.ts';
import { interopKeys } from './interop-keys.ts';

export interface RejectedPayload {
  /** The item exactly as it was found in the source (a schedule item is "<score>\t<payload>"). */
  payload: string;
  reason: string;
  /** When it was rejected (ISO 8601). */
  at: string;
  /** The Redis key it came from: resque:queue:NAME, queue:NAME or schedule. */
  source: string;
  bridge: string;
}

export function rejectedEntry(payload: string, reason: string, source: string, bridge: string, now = Date.now()): string {
  const entry: RejectedPayload = { payload, reason, at: new Date(now).toISOString(), source, bridge };
  return JSON.stringify(entry);
}

export class RejectedPayloads {
  private readonly conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.conn = conn;
  }

  count(): Promise<number> {
    return this.conn.llen(interopKeys.rejected);
  }

  async list(offset = 0, limit = 50): Promise<{ rejected: RejectedPayload[]; total: number; offset: number; limit: number }> {
    const [total, raw] = await Promise.all([this.count(), this.conn.lrange(interopKeys.rejected, offset, offset + limit - 1)]);
    const rejected = raw.map((r) => {
      try {
        return JSON.parse(r) as RejectedPayload;
      } catch {
        return { payload: r, reason: 'unreadable entry', at: '', source: '', bridge: '' };
      }
    });
    return { rejected, total, offset, limit };
  }

  /** Removes every entry (after they were looked at); returns how many. */
  async clear(): Promise<number> {
    const [[, n]] = (await this.conn.multi().llen(interopKeys.rejected).del(interopKeys.rejected).exec()) as [[unknown, number], unknown];
    return n;
  }
}
