/**
 * `npm run bridge`: the interop bridge alone, without running jobs. Moves
 * Resque- and Sidekiq-format jobs pushed to REDIS_URL into Conveyor queues.
 * INTEROP picks the formats (unset here = both); INTEROP_QUEUES the queues
 * (unset = every queue named in `queues` / `resque:queues`).
 */
import { loadConfig, describeConfig } from '../shared/config/config.ts';
import { createLogger } from '../shared/log.ts';
import { InteropBridge } from '../shared/interop/bridge.ts';
import { INTEROP_FORMATS } from '../shared/interop/interop-keys.ts';
import { reportStartFailure, runUntilSignalled } from '../shared/runtime/shutdown.ts';

let log = createLogger('bridge');
try {
  const config = loadConfig(process.env);
  log = createLogger('bridge', config.logLevel);
  log.info({ config: describeConfig(config) }, 'config');
  const formats = config.interop.length > 0 ? config.interop : INTEROP_FORMATS;
  if (config.interop.length === 0) log.info({ formats }, 'INTEROP is unset: the bridge moves both formats');
  await runUntilSignalled([new InteropBridge({ config, logger: log, formats })], log, { stopDeadlineMs: 15_000 });
} catch (err) {
  reportStartFailure(log, err);
  process.exit(2);
}
