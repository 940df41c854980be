/** Worker process: consumes QUEUES with CONCURRENCY, running built-in and HANDLERS handlers. */
import { loadConfig, describeConfig } from '#shared/config/config.ts';
import { createLogger } from '#shared/log.ts';
import { WorkerHost } from '#shared/runtime/worker-host.ts';
import { runUntilSignalled } from '#shared/runtime/shutdown.ts';
import { isConveyorError } from '#shared/errors.ts';
import { resolveHandlers } from './handlers/index.ts';

let log = createLogger('worker');
try {
  const config = loadConfig(process.env);
  log = createLogger('worker', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  const handlers = await resolveHandlers(config.httpAllowedHosts, config.handlersPath);
  log.info({ handlers: Object.keys(handlers) }, 'handlers loaded');
  await runUntilSignalled([new WorkerHost({ config, handlers, logger: log })], log);
} catch (err) {
  const msg = isConveyorError(err) ? `${err.code}: ${err.message}` : String(err);
  log.fatal({ err: msg }, 'failed to start');
  process.stderr.write(`conveyor worker: ${msg}\n`);
  process.exit(2);
}
