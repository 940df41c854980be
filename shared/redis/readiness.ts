/**
 * Is Redis there, and if not, why: waiting for a new connection to become
 * ready with an error that names the cause and the fix (wrong password,
 * nothing listening, TLS mismatch), and mapping command errors to codes.
 */
import { ConveyorError } from '../errors.ts';
import type { RedisConnection } from './connections.ts';

/** Maps a low-level Redis error to a Conveyor error with a stable code. */
export function toRedisError(err: unknown, redacted: string): ConveyorError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/WRONGPASS|NOAUTH|invalid username-password|NOPERM/i.test(msg)) {
    return new ConveyorError('REDIS_AUTH_FAILED', `Redis at ${redacted} refused the credentials: ${msg}. Check the user and password in REDIS_URL.`, undefined, { cause: err });
  }
  return new ConveyorError('REDIS_UNAVAILABLE', `Redis at ${redacted} is unavailable: ${msg}`, undefined, { cause: err });
}

/**
 * How long a starting process waits for Redis. SPEC promises a clear error
 * within 10 s of start; the process itself needs 1-3 s to load, so 5 s of
 * reconnecting (enough for a Redis started beside it) leaves a margin.
 */
export const STARTUP_TIMEOUT_MS = 5_000;

/**
 * Waits until the connection is ready or fails within timeoutMs, with an error
 * naming the cause (wrong password, nothing listening, TLS mismatch).
 */
export async function waitUntilReady(conn: RedisConnection, redacted: string, timeoutMs = STARTUP_TIMEOUT_MS): Promise<void> {
  if (conn.status === 'ready') return;
  let lastError: Error | undefined;
  const onError = (e: Error) => {
    lastError = e;
  };
  conn.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(describeConnectFailure(lastError, redacted, timeoutMs));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onAuthError = (e: Error) => {
        if (/WRONGPASS|NOAUTH|invalid username-password/i.test(e.message)) {
          cleanup();
          reject(describeConnectFailure(e, redacted, timeoutMs));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        conn.off('ready', onReady);
        conn.off('error', onAuthError);
      };
      conn.once('ready', onReady);
      conn.on('error', onAuthError);
    });
  } finally {
    conn.off('error', onError);
  }
}

function describeConnectFailure(err: Error | undefined, redacted: string, timeoutMs: number): ConveyorError {
  const msg = err?.message ?? '';
  if (/^NOAUTH/.test(msg)) {
    // Only sent when the client gave no password at all.
    return new ConveyorError('REDIS_AUTH_FAILED', `Redis at ${redacted} refused the credentials: it requires a password and REDIS_URL has none (NOAUTH); put it in REDIS_URL as redis://:password@host:port or redis://user:password@host:port.`);
  }
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(msg)) {
    return new ConveyorError('REDIS_AUTH_FAILED', `Redis at ${redacted} refused the credentials (${msg}); check the user and password in REDIS_URL.`);
  }
  if (/ECONNREFUSED/.test(msg)) {
    return new ConveyorError('REDIS_UNAVAILABLE', `Nothing is listening at ${redacted} (${msg}); start Redis or fix the host and port in REDIS_URL.`);
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) {
    return new ConveyorError('REDIS_UNAVAILABLE', `The host of ${redacted} does not resolve (${msg}); fix the host in REDIS_URL.`);
  }
  if (/wrong version number|packet length too long|ssl|tls|certificate|EPROTO/i.test(msg)) {
    return new ConveyorError('REDIS_TLS_MISMATCH', `TLS failed talking to ${redacted} (${msg}); use rediss:// only for a TLS port, and set REDIS_TLS_CA to the server's CA.`);
  }
  if (/ECONNRESET|Connection is closed|socket hang up/i.test(msg)) {
    return new ConveyorError('REDIS_TLS_MISMATCH', `The server at ${redacted} closed the connection during the handshake (${msg}); it may expect TLS: try rediss://.`);
  }
  return new ConveyorError(
    'REDIS_UNAVAILABLE',
    `Redis at ${redacted} did not become ready within ${timeoutMs / 1000} s${msg ? ` (${msg})` : ''}; if the server requires TLS use rediss://, otherwise check REDIS_URL.`,
  );
}
