/**
 * Process lifecycle: run services, stop them on SIGTERM/SIGINT (a second signal
 * exits at once), exit 0 after a clean stop and non-zero on a failed start.
 */
import type { Logger } from '../log.ts';
import type { Service } from './service.ts';
import { isConveyorError } from '../errors.ts';

export async function runUntilSignalled(services: Service[], log: Logger): Promise<void> {
  let stopping = false;
  const stopAll = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    const results = await Promise.allSettled([...services].reverse().map((s) => s.stop()));
    const failed = results.filter((r) => r.status === 'rejected');
    for (const f of failed) log.error({ err: String((f as PromiseRejectedResult).reason) }, 'stop failed');
    process.exit(failed.length ? 1 : 0);
  };
  process.on('SIGTERM', () => void stopAll('SIGTERM'));
  process.on('SIGINT', () => void stopAll('SIGINT'));
  try {
    for (const s of services) await s.start();
  } catch (err) {
    const msg = isConveyorError(err) ? `${err.code}: ${err.message}` : String(err instanceof Error ? err.stack : err);
    log.fatal({ err: msg }, 'failed to start');
    // One clear line for humans too (log lines are JSON).
    process.stderr.write(`conveyor: ${msg}\n`);
    await Promise.allSettled(services.map((s) => s.stop()));
    process.exit(2);
  }
}
