/** The dashboard process (`conveyor dashboard`, npm run dashboard, tests): dashboard/standalone.ts. */
import { runDashboard } from './standalone.ts';

await runDashboard();
