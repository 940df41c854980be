/**
 * Process lifecycle: run services, stop them on SIGTERM/SIGINT (a second signal
 * exits at once), exit 0 after a clean stop and non-zero on a failed start.
 */
import { createLogger, type Logger } from '../log.ts';
import { loadConfig } from '../config/config.ts';
import type { Service } from './service.ts';
import { isConveyorError } from '../errors.ts';

export interface RunOptions {
  /**
   * Exit 1 if stopping takes longer than this (a service whose stop hangs
   * must not keep a process that was told to go). Unset: no limit.
   */
  stopDeadlineMs?: number;
}

/** "conveyor worker: CODE: message" — one line for humans on stderr (the log lines are JSON). */
export function reportStartFailure(log: Logger, err: unknown): void {
  const msg = isConveyorError(err) ? `${err.code}: ${err.message}` : String(err instanceof Error ? err.stack : err);
  log.fatal({ err: msg }, 'failed to start');
  const proc = (log.bindings() as { proc?: unknown }).proc;
  process.stderr.write(`conveyor${typeof proc === 'string' ? ` ${proc}` : ''}: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
}

export async function runUntilSignalled(services: Service[], log: Logger, opts: RunOptions = {}): Promise<void> {
  let stopping = false;
  const stopAll = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    if (opts.stopDeadlineMs !== undefined) {
      setTimeout(() => {
        log.error({ deadlineMs: opts.stopDeadlineMs }, 'did not stop in time; exiting');
        process.exit(1);
      }, opts.stopDeadlineMs).unref();
    }
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
    if (stopping) return; // a signal during start: stopAll exits
    reportStartFailure(log, err);
    await Promise.allSettled(services.map((s) => s.stop()));
    process.exit(2);
  }
}

/**
 * A process around one thing that starts and stops (the standalone server,
 * dashboard): its logger at LOG_LEVEL, start, run until SIGTERM/SIGINT, stop.
 * A bad configuration or a failed start exits 2 with one line.
 */
export async function runStarted(name: string, start: (log: Logger) => Promise<{ stop(): Promise<void> }>, logger?: Logger, opts: RunOptions = {}): Promise<void> {
  let log = logger ?? createLogger(name);
  try {
    log = logger ?? createLogger(name, loadConfig(process.env).logLevel);
  } catch (err) {
    reportStartFailure(log, err);
    process.exit(2);
  }
  let running: { stop(): Promise<void> } | undefined;
  await runUntilSignalled(
    [
      {
        async start() {
          running = await start(log);
        },
        async stop() {
          await running?.stop();
        },
      },
    ],
    log,
    opts,
  );
}
