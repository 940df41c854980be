/**
 * Rate limit on failed logins, per client address and per user name, shared
 * by every dashboard process through Redis: after `max` failures within
 * `windowMs` further attempts are refused (429 with Retry-After) until the
 * oldest of those failures leaves the window. A successful login clears the
 * address's record. Counting per user too stops a guesser that rotates
 * addresses; counting per address stops one that rotates user names; sharing
 * the counts stops one that spreads its guesses over the processes behind a
 * balancer.
 *
 * One sorted set per address or user (score: the failure's time), expiring
 * with the window, so a flood of distinct names costs memory for one window
 * at most. Each key is its own command (no CROSSSLOT on Cluster).
 */
import { randomBytes } from 'node:crypto';
import type { RedisConnection } from '../shared/redis/connections.ts';
import { keys } from '../shared/queue/names.ts';

export interface LimiterOptions {
  max?: number;
  windowMs?: number;
  now?: () => number;
}

export class LoginLimiter {
  private readonly conn: RedisConnection;
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(conn: RedisConnection, { max = 10, windowMs = 15 * 60_000, now = Date.now }: LimiterOptions = {}) {
    this.conn = conn;
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Milliseconds until another attempt is allowed for this address or user; 0 = allowed now. */
  async retryAfterMs(ip: string, user: string): Promise<number> {
    const [a, b] = await Promise.all([this.wait(ipKey(ip)), this.wait(userKey(user))]);
    return Math.max(a, b);
  }

  async fail(ip: string, user: string): Promise<void> {
    const now = this.now();
    await Promise.all(
      [ipKey(ip), userKey(user)].map((k) =>
        this.conn
          .multi()
          .zadd(k, now, `${now}:${randomBytes(4).toString('hex')}`)
          .zremrangebyscore(k, '-inf', now - this.windowMs)
          .pexpire(k, this.windowMs)
          .exec(),
      ),
    );
  }

  async succeed(ip: string): Promise<void> {
    await this.conn.del(ipKey(ip));
  }

  private async wait(k: string): Promise<number> {
    const now = this.now();
    // Failure times inside the window, oldest first.
    const recent = (await this.conn.zrangebyscore(k, `(${now - this.windowMs}`, '+inf', 'WITHSCORES'))
      .filter((_, i) => i % 2 === 1)
      .map(Number);
    if (recent.length < this.max) return 0;
    return Math.max(1, recent[recent.length - this.max]! + this.windowMs - now);
  }
}

const ipKey = (ip: string) => keys.loginFailures(`ip:${ip}`);
const userKey = (user: string) => keys.loginFailures(`user:${user.toLowerCase()}`);
