/**
 * Structured logs: one JSON line per event (pino). No payloads, never secrets.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    base: { proc: name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization'], censor: '***' },
  });
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
