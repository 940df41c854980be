/** The worker process (`conveyor worker`, npm run worker, tests): worker/standalone.ts. */
import { runWorker } from './standalone.ts';

await runWorker();
