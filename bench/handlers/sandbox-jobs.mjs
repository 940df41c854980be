/**
 * Jobs of the sandbox benchmark (bench/scenarios/sandbox.ts), run by the
 * compiled `conveyor worker --jobs bench/handlers/sandbox-jobs.mjs`: a noop and
 * a CPU-bound job (a busy loop of data.ms, default 5 ms), each defined once per
 * isolation. Plain JavaScript on the compiled package (dist/), as an app's
 * built jobs module is.
 */
import { performance } from 'node:perf_hooks';
import { defineJob } from '../../dist/shared/index.js';

/** Keeps the CPU busy for `ms` without yielding (what a parser, an image resize or a PDF render does). */
function spin(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}

export const jobs = ['none', 'thread', 'process'].flatMap((isolation) => [
  defineJob({ name: `sb-noop-${isolation}`, isolation }).handle(async () => null),
  defineJob({ name: `sb-cpu-${isolation}`, isolation }).handle(async (data) => {
    spin(typeof data?.ms === 'number' ? data.ms : 5);
    return null;
  }),
]);
