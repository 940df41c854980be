/** What every benchmark scenario gets from bench/run.ts. */
export interface BenchContext {
  quick: boolean;
  runs: number;
  /** Progress lines (stderr), so stdout keeps only the table. */
  log(msg: string): void;
  /** Node flags for Conveyor's own child processes (--cpu-prof when profiling). */
  childArgs: string[];
}

/** Sides alternate from run to run, so neither always goes first (JIT warm-up, Redis memory). */
export function sidesFor<T>(run: number, a: T, b: T): [T, T] {
  return run % 2 === 0 ? [a, b] : [b, a];
}
