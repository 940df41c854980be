/**
 * The Sentinel side of a connection: which credentials go to the Sentinels
 * (not to the data nodes), and errors that keep their cause.
 *
 * Credentials. Lettuce and Spring Data Redis (since 2.3, DATAREDIS-1060) apply
 * the URL's password to the data nodes only; Sentinels get their own, if any.
 * Sending the data password to a Sentinel that has none fails with an ACL user
 * (WRONGPASS: the Sentinel does not know the user) and makes ioredis print an
 * unstructured "[WARN] ... does not require a password" line for a bare one.
 * Many deployments, though, give the Sentinels the data nodes' password. So:
 *  - `?sentinelPassword=` / `?sentinelUsername=` in the URL: sent as given;
 *  - none given: ask the Sentinels without credentials; when one answers
 *    NOAUTH (it requires a password), switch to the URL's credentials and ask
 *    again. The choice is shared by every connection built from the same
 *    options (BullMQ duplicates them), so only the first lookup pays for it.
 *
 * Errors. ioredis' Sentinel lookup connects without retries and, when that
 * connection fails (refused, TLS certificate, reset), reports only
 * "Connection is closed."; the socket's own error is kept here and reported
 * instead, so the startup message can name the cause (readiness.ts).
 */
import { SentinelConnector, type RedisOptions, type SentinelAddress } from 'ioredis';
import type { SentinelTarget } from '../config/redis-url.ts';

type SentinelOptions = Pick<RedisOptions, 'Connector' | 'sentinelUsername' | 'sentinelPassword'>;

interface EventSource {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** The private methods of ioredis' SentinelConnector wrapped here (ioredis 6). */
interface ConnectorInternals {
  connectToSentinel(endpoint: Partial<SentinelAddress>, options?: Record<string, unknown>): EventSource;
  resolve(endpoint: Partial<SentinelAddress>): Promise<unknown>;
}

const NEEDS_AUTH = /^NOAUTH\b/;
const CLOSED = /^Connection is closed/;

export interface Credentials {
  username: string | undefined;
  password: string | undefined;
}

/**
 * What to send to the Sentinels, in order: the explicit ?sentinelPassword /
 * ?sentinelUsername alone; otherwise nothing first, then (after a NOAUTH)
 * the URL's credentials when it has a password.
 */
export function sentinelCredentialAttempts(target: SentinelTarget): Credentials[] {
  if (target.sentinelPassword !== undefined || target.sentinelUsername !== undefined) {
    return [{ username: target.sentinelUsername, password: target.sentinelPassword }];
  }
  const anonymous = { username: undefined, password: undefined };
  return target.password === undefined ? [anonymous] : [anonymous, { username: target.username, password: target.password }];
}

/** True for the reply of a server that wants credentials (first attempt failed, try the next). */
export function needsAuth(err: unknown): boolean {
  return err instanceof Error && NEEDS_AUTH.test(err.message);
}

/** ioredis options for the Sentinel side of a sentinel target. */
export function sentinelOptions(target: SentinelTarget): SentinelOptions {
  const [first, fallback] = sentinelCredentialAttempts(target) as [Credentials, Credentials | undefined];
  return { Connector: sentinelConnector(first, fallback) };
}

function sentinelConnector(first: Credentials, fallback: Credentials | undefined): NonNullable<RedisOptions['Connector']> {
  let current = first;
  return class ConveyorSentinelConnector extends SentinelConnector {
    constructor(options: unknown) {
      super(options as ConstructorParameters<typeof SentinelConnector>[0]);
      // Both methods are private in ioredis' types; wrapping this instance's
      // own functions keeps every other behaviour (iteration, failover detector).
      const self = this as unknown as ConnectorInternals;
      const connectToSentinel = self.connectToSentinel.bind(this);
      const resolve = self.resolve.bind(this);
      const seen: { socketError: Error | undefined } = { socketError: undefined };
      self.connectToSentinel = (endpoint, opts) => {
        const client = connectToSentinel(endpoint, { username: current.username ?? null, password: current.password ?? null, ...opts });
        client.on('error', (err) => (seen.socketError = err));
        return client;
      };
      const lookup = async (endpoint: Partial<SentinelAddress>) => {
        seen.socketError = undefined;
        try {
          return await resolve(endpoint);
        } catch (err) {
          const e = err as Error;
          const cause = seen.socketError as Error | undefined; // set by the client's error listener meanwhile
          if (CLOSED.test(e.message) && cause) throw Object.assign(new Error(cause.message), { code: (cause as { code?: unknown }).code });
          throw e;
        }
      };
      self.resolve = async (endpoint) => {
        try {
          return await lookup(endpoint);
        } catch (err) {
          if (fallback && current !== fallback && needsAuth(err)) {
            current = fallback;
            return lookup(endpoint);
          }
          throw err;
        }
      };
    }
  };
}
