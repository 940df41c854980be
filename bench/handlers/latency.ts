/**
 * Bench handlers for the enqueue-to-start latency figure, used unchanged by the
 * Conveyor worker (HANDLERS=bench/handlers/latency.ts) and by the plain BullMQ
 * worker of the baseline, so both sides measure the same way.
 *
 * stamp: records how long ago the producer stamped the job (data.sentAt, wall
 * clock in ms with sub-ms precision). flush: writes what was recorded to
 * data.file as JSON and starts over.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

let seen: number[] = [];

export const handlers = {
  stamp(data: { sentAt?: number } | null): null {
    if (typeof data?.sentAt === 'number') seen.push(wallMs() - data.sentAt);
    return null;
  },
  flush(data: { file?: string } | null): number {
    const n = seen.length;
    if (typeof data?.file === 'string') writeFileSync(data.file, JSON.stringify(seen));
    seen = [];
    return n;
  },
};
