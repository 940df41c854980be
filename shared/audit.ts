/**
 * The audit log of operator actions (dashboard, and any other tool that
 * changes queues on a person's behalf): who did what, to which queue and
 * jobs, when, and how it ended. One Redis list, newest first, capped so it
 * can never grow without bound; every write is one MULTI (LPUSH + LTRIM).
 */
import type { RedisConnection } from './redis/connections.ts';
import { keys } from './queue/names.ts';

export interface AuditEntry {
  /** ISO 8601. */
  at: string;
  user: string;
  role: 'admin' | 'read' | 'system';
  /** What was done, e.g. "queue.pause", "dead.replay", "worker.quiet", "login.failed". */
  action: string;
  queue?: string;
  /** A single thing acted on: a worker id, a schedule id, a bull-board route. */
  target?: string;
  /** Job references ("queue/id"), at most MAX_JOBS_LISTED; `count` says how many in all. */
  jobs?: string[];
  count?: number;
  outcome: 'ok' | 'refused' | 'failed';
  detail?: string;
  ip?: string;
}

export const DEFAULT_AUDIT_CAP = 10_000;
/** An entry names at most this many jobs; a bulk action of thousands keeps its count. */
export const MAX_JOBS_LISTED = 50;

export class AuditLog {
  private readonly conn: RedisConnection;
  readonly cap: number;

  constructor(conn: RedisConnection, { cap = DEFAULT_AUDIT_CAP }: { cap?: number } = {}) {
    this.conn = conn;
    this.cap = cap;
  }

  async record(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<AuditEntry> {
    const e: AuditEntry = { ...entry, at: entry.at ?? new Date().toISOString() };
    if (e.jobs && e.jobs.length > MAX_JOBS_LISTED) {
      e.count ??= e.jobs.length;
      e.jobs = e.jobs.slice(0, MAX_JOBS_LISTED);
    }
    if (e.detail && e.detail.length > 500) e.detail = `${e.detail.slice(0, 499)}…`;
    await this.conn.multi().lpush(keys.audit, JSON.stringify(e)).ltrim(keys.audit, 0, String(this.cap - 1)).exec();
    return e;
  }

  /** Newest first. */
  async list(offset = 0, limit = 50): Promise<{ entries: AuditEntry[]; total: number; offset: number; limit: number }> {
    const [total, raws] = await Promise.all([this.conn.llen(keys.audit), this.conn.lrange(keys.audit, offset, String(offset + limit - 1))]);
    const entries: AuditEntry[] = [];
    for (const raw of raws) {
      try {
        entries.push(JSON.parse(raw) as AuditEntry);
      } catch {
        // not ours
      }
    }
    return { entries, total, offset, limit };
  }
}
