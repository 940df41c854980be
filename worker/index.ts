/**
 * `conveyor/worker`: the worker runtime embedded in an app's own process.
 *
 *   import { createWorker } from 'conveyor/worker';
 *   const worker = createWorker({ conveyor, jobs: [sendWelcomeJob] });
 *   await worker.start();
 */
import '../shared/node-version.ts';

export { createWorker } from './create-worker.ts';
export type { ConveyorWorker, WorkerOptions, WorkerMetricsView } from './create-worker.ts';
