/** The API server process (`conveyor server`, npm run server, tests): server/standalone.ts. */
import { runServer } from './standalone.ts';

await runServer();
