/**
 * `conveyor/server`: the HTTP API, to mount in an app's express app under
 * any prefix (apiRouter), or to run as the standalone server (startServer).
 */
import '../shared/node-version.ts';

export { apiRouter } from './api-router.ts';
export type { ApiRouterOptions } from './api-router.ts';
export { startServer } from './standalone.ts';
export type { RunningServer, ServerOptions } from './standalone.ts';
