/**
 * Bench-only switches, not settings: `CONVEYOR_BENCH_OFF=heartbeat,metrics,…`
 * turns parts of a worker process off so `npm run bench -- --only parts`
 * can measure what each one costs per job (docs/benchmarks.md "What each
 * part costs"). Read once; an unknown part is refused with the list of valid
 * ones; a worker with any part off says so in a warning at start. Production
 * never sets it: every part is what makes the platform what it is.
 */
import { ConveyorError } from '../errors.ts';

export const BENCH_PARTS = [
  /** The fleet heartbeat (one MULTI per HEARTBEAT_INTERVAL_MS, the control channel). */
  'heartbeat',
  /** The watchdog that recreates a BullMQ worker gone silent after a failover. */
  'watchdog',
  /** The dead-letter sweep (every 30 s) and the move of a job failed for good. */
  'deadletter',
  /** The flow gate's tick (every 250 ms per queue) and its admission check. */
  'gate',
  /** Schedule repair at start and on a timer. */
  'schedules',
  /** BullMQ's worker `name` (written into each job's hash as it starts: the history's "which worker"). */
  'name',
] as const;
export type BenchPart = (typeof BENCH_PARTS)[number];

export function parseBenchOff(raw: string | undefined): ReadonlySet<BenchPart> {
  const parts = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    if (!(BENCH_PARTS as readonly string[]).includes(p)) {
      throw new ConveyorError('CONFIG_INVALID', `CONVEYOR_BENCH_OFF: unknown part "${p}"; parts: ${BENCH_PARTS.join(', ')}`, { variable: 'CONVEYOR_BENCH_OFF' });
    }
  }
  return new Set(parts as BenchPart[]);
}

let off: ReadonlySet<BenchPart> | undefined;

/** The parts switched off in this process (throws CONFIG_INVALID for an unknown one). */
export function benchOff(): ReadonlySet<BenchPart> {
  off ??= parseBenchOff(process.env.CONVEYOR_BENCH_OFF);
  return off;
}
