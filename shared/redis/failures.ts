/**
 * Which errors mean "Redis is not reachable or not writable right now" (answer
 * 503 and let the caller retry) as opposed to a bug (500). ioredis and BullMQ
 * throw plain Errors for some of these, so both the class and the message count.
 */

/** Connection-level classes from redis-errors / ioredis (matched by name: they are not exported as types). */
const CONNECTION_ERROR_CLASSES = new Set(['AbortError', 'InterruptError', 'ParserError', 'MaxRetriesPerRequestError', 'ClusterAllFailedError']);

/** Replies that say "not now" rather than "wrong command": failover, loading, memory, auth. */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|NOREPLICAS|BUSY|CLUSTERDOWN|TRYAGAIN|OOM|NOAUTH|WRONGPASS|NOPERM)\b/;

const CONNECTION_MESSAGES =
  /Command timed out|Connection is closed|Connection is closing|Stream isn't writeable|enableOfflineQueue|max retries per request|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/i;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function classNames(err: Error): string[] {
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(err); p && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
    const n = (p.constructor as { name?: string } | undefined)?.name;
    if (n) names.push(n);
  }
  return names;
}

export function isRedisFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (TRANSIENT_REPLY.test(err.message)) return true;
  const names = classNames(err);
  // Any other reply (WRONGTYPE, ERR ...) is Redis refusing a command we sent: a bug, not an outage.
  if (names.includes('ReplyError')) return false;
  if (names.some((n) => CONNECTION_ERROR_CLASSES.has(n))) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.test(err.message);
}

/** A reply saying the key holds another type: the id named something that is not a job. */
export function isWrongType(err: unknown): boolean {
  return err instanceof Error && /^WRONGTYPE\b/.test(err.message);
}
