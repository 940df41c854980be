/**
 * Rate limit on failed logins, per client address and per user name, in this
 * process: after `max` failures within `windowMs` further attempts are
 * refused (429 with Retry-After) until the oldest failure leaves the window.
 * A successful login clears the address's record. Counting per user too stops
 * a guesser that rotates addresses; counting per address stops one that
 * rotates user names.
 */
export interface LimiterOptions {
  max?: number;
  windowMs?: number;
  now?: () => number;
}

export class LoginLimiter {
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly failures = new Map<string, number[]>();

  constructor({ max = 10, windowMs = 15 * 60_000, now = Date.now }: LimiterOptions = {}) {
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Milliseconds until another attempt is allowed for this address or user; 0 = allowed now. */
  retryAfterMs(ip: string, user: string): number {
    return Math.max(this.wait(`ip:${ip}`), this.wait(`user:${user.toLowerCase()}`));
  }

  fail(ip: string, user: string): void {
    for (const k of [`ip:${ip}`, `user:${user.toLowerCase()}`]) {
      const list = this.recent(k);
      list.push(this.now());
      this.failures.set(k, list);
    }
    // Keep memory bounded against a flood of distinct names.
    if (this.failures.size > 10_000) {
      for (const [k] of this.failures) {
        if (this.recent(k).length === 0) this.failures.delete(k);
      }
    }
  }

  succeed(ip: string): void {
    this.failures.delete(`ip:${ip}`);
  }

  private recent(k: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(k) ?? []).filter((t) => t > since);
  }

  private wait(k: string): number {
    const list = this.recent(k);
    if (list.length < this.max) return 0;
    return Math.max(1, list[list.length - this.max]! + this.windowMs - this.now());
  }
}
