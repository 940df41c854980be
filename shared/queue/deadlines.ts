/**
 * Deadlines for many operations in flight, watched by one timer. A
 * setTimeout, a second promise and a Promise.race per enqueue cost more CPU
 * than the rest of the producer's own work on an enqueue; here an operation
 * costs an insert into a set and a delete. It fails at most resolutionMs
 * after its deadline (the bound exists so a caller never hangs, not to be
 * exact).
 */
export interface Deadline {
  /** True once the caller was told the operation failed: do not start writing then. */
  readonly expired: boolean;
}

interface Entry extends Deadline {
  at: number;
  expired: boolean;
  // Fields, not a closure: tsx (esbuild keepNames) names every closure built
  // in an object literal with Object.defineProperty, at a cost per call.
  reject: (err: unknown) => void;
  onExpire: () => Error;
}

export class Deadlines {
  private readonly pending = new Set<Entry>();
  private readonly resolutionMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(resolutionMs = 100) {
    this.resolutionMs = resolutionMs;
  }

  /**
   * Runs op. If it has not settled within ms, the promise rejects with
   * onExpire() (op itself goes on; it can check its Deadline).
   */
  run<T>(ms: number, onExpire: () => Error, op: (d: Deadline) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { at: performance.now() + ms, expired: false, reject, onExpire };
      this.pending.add(entry);
      // Not unref'd: like the setTimeout it replaces, an operation in flight keeps the process alive until it settles or expires.
      this.timer ??= setInterval(() => this.sweep(), this.resolutionMs);
      op(entry).then(
        (v) => {
          this.pending.delete(entry);
          resolve(v);
        },
        (err: unknown) => {
          this.pending.delete(entry);
          reject(err);
        },
      );
    });
  }

  private sweep(): void {
    const now = performance.now();
    for (const e of this.pending) {
      if (e.at > now) continue;
      e.expired = true;
      this.pending.delete(e);
      e.reject(e.onExpire());
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
