/**
 * Why a new connection does not become ready, in one line that names the
 * likely fix. Each rule below was written against the error ioredis 6 really
 * gives for the case (see test/misconfig-*.test.ts):
 *
 *   redis:// to a TLS-only port      ECONNRESET on every attempt
 *   rediss:// to a plain port        nothing: the server waits for a line the
 *                                    ClientHello never ends (or "wrong version number")
 *   rediss:// without the CA         SELF_SIGNED_CERT_IN_CHAIN ...
 *   wrong password / unknown user    WRONGPASS (the same reply for both, by design)
 *   no password given                NOAUTH
 *   nothing listening                ECONNREFUSED
 *   unknown master name              sentinelError "... because ERR No such master with that name"
 *   no Sentinel answers              sentinelError "... because Connection is closed."
 *   a data node given as a Sentinel  "unknown command 'sentinel'" (or NOAUTH HELLO)
 *
 * `fatal` failures cannot cure themselves by waiting (a wrong password stays
 * wrong), so the caller stops at once; the others get the startup wait, since
 * Redis may be starting beside us.
 */
import { ConveyorError } from '../errors.ts';

export interface ConnectFailure {
  /** 'sentinel' when a Sentinel lookup failed; 'data' for the data node itself. */
  side: 'sentinel' | 'data';
  message: string;
  code: string | undefined;
}

export interface FailureContext {
  /** The redacted URL: its scheme says TLS or not, Sentinel or not. */
  redacted: string;
  timeoutMs: number;
  /** How many times in a row the server closed the connection at once. */
  resets: number;
}

export interface Verdict {
  error: ConveyorError;
  fatal: boolean;
}

const SENTINEL_PREFIX = /^(?:failed to connect to sentinel \S+ because |All sentinels are unreachable\..*?Last error: )/;
const CERT_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);
/** The same, by message: a Sentinel lookup's error keeps only the text. */
const CERT_UNTRUSTED_TEXT = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate signature failure/i;
const TLS_PROTOCOL = /wrong version number|packet length too long|unknown protocol|record layer failure|ERR_SSL|EPROTO|TLS handshake/i;
const CLOSED_AT_ONCE = /ECONNRESET|socket hang up|Connection is closed/i;
/** A reset by the peer (Sentinel lookups report a refused connection as "Connection is closed" too). */
export const RESET = /ECONNRESET|socket hang up/i;
/** Resets in a row that mean "this port refuses plain clients", not a blip. */
export const RESETS_BEFORE_VERDICT = 3;

/** Normalises an 'error' or 'sentinelError' event of ioredis. */
export function connectFailureOf(err: Error, event: 'error' | 'sentinelError'): ConnectFailure {
  const code = (err as { code?: unknown }).code;
  const sentinel = event === 'sentinelError' || /^All sentinels are unreachable/.test(err.message);
  let message = err.message.replace(SENTINEL_PREFIX, '');
  // "connected to sentinel h:p successfully, but got an invalid reply: null": the master is unknown (Redis < 7).
  if (/^connected to sentinel .* invalid reply: null/.test(message)) message = 'ERR No such master with that name';
  // ioredis 6 opens with HELLO; Redis' answer to it without credentials is a paragraph.
  if (/^NOAUTH HELLO must be called/.test(message)) message = 'NOAUTH Authentication required (HELLO)';
  return { side: sentinel ? 'sentinel' : 'data', message, code: typeof code === 'string' ? code : undefined };
}

function schemeOf(redacted: string): { tls: boolean; sentinel: boolean } {
  const scheme = /^([a-z-]+):\/\//i.exec(redacted)?.[1]?.toLowerCase() ?? '';
  return { tls: scheme.startsWith('rediss'), sentinel: scheme.endsWith('-sentinel') };
}

function masterOf(redacted: string): string {
  return /#([^#]*)$/.exec(redacted)?.[1] ?? /sentinelMasterId=([^&#]*)/.exec(redacted)?.[1] ?? '';
}

function userOf(redacted: string): string | undefined {
  const u = /^[a-z-]+:\/\/([^:@/]+):/i.exec(redacted)?.[1];
  try {
    return u ? decodeURIComponent(u) : undefined;
  } catch {
    return u;
  }
}

/** 5000 → "5 s", 3240 → "3.2 s". */
const secs = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;
const fatal = (error: ConveyorError): Verdict => ({ error, fatal: true });
const waitable = (error: ConveyorError): Verdict => ({ error, fatal: false });

/** The verdict on one failure (undefined: a timeout with nothing to go on). */
export function classifyConnectFailure(f: ConnectFailure | undefined, ctx: FailureContext): Verdict {
  const { redacted } = ctx;
  const { tls, sentinel } = schemeOf(redacted);
  const msg = f?.message ?? '';
  const why = msg ? ` (${msg})` : '';

  const tlsVerdict = tlsFailure(f, redacted);
  if (tlsVerdict) return tlsVerdict;

  if (f?.side === 'sentinel') {
    const plainScheme = redacted.replace(/^rediss-/i, 'redis-').split('://')[0];
    if (/No such master with that name/i.test(msg)) {
      return fatal(new ConveyorError('CONFIG_INVALID', `The Sentinels at ${redacted} do not monitor a master named "${masterOf(redacted)}"${why}; fix the name after # in REDIS_URL: it must match the Sentinels' "sentinel monitor <name> ..." line.`, { variable: 'REDIS_URL' }));
    }
    if (/unknown command .?sentinel/i.test(msg)) {
      return fatal(new ConveyorError('CONFIG_INVALID', `${redacted} names a Redis data node, not a Sentinel${why}; list the Sentinels' host:port (default port 26379) in ${plainScheme}://, or use redis://host:port for a single endpoint.`, { variable: 'REDIS_URL' }));
    }
    if (/^NOAUTH/.test(msg)) {
      // A Sentinel with requirepass and a data node with one answer alike (NOAUTH HELLO ...).
      return fatal(new ConveyorError('REDIS_AUTH_FAILED', `The servers at ${redacted} require a password and REDIS_URL gives none${why}; if they are Sentinels with a password, put it in REDIS_URL (it is tried on the Sentinels when they ask for one) or add ?sentinelPassword=... before #${masterOf(redacted)}; if they are Redis data nodes, list the Sentinels instead (default port 26379).`));
    }
    if (/WRONGPASS|invalid username-password/i.test(msg)) {
      return fatal(new ConveyorError('REDIS_AUTH_FAILED', `The Sentinels at ${redacted} refused the credentials${why}; if the Sentinels' password differs from the data nodes', give it as ?sentinelPassword=... (and ?sentinelUsername=...) before #${masterOf(redacted)}.`));
    }
    if (!tls && RESET.test(msg) && ctx.resets >= RESETS_BEFORE_VERDICT) {
      return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `The Sentinels at ${redacted} close every connection at once${why}, as TLS-only ports do to a plain client; use rediss-sentinel:// (with REDIS_TLS_CA if their certificate is private).`));
    }
    if (tls && (CLOSED_AT_ONCE.test(msg) || !f)) {
      return waitable(new ConveyorError('REDIS_TLS_MISMATCH', `No Sentinel completed a TLS handshake at ${redacted} within ${secs(ctx.timeoutMs)}${why}; if the Sentinels listen on plain ports use ${plainScheme}://, otherwise check their hosts and ports in REDIS_URL.`));
    }
    return waitable(new ConveyorError('REDIS_UNAVAILABLE', `No Sentinel answered at ${redacted} within ${secs(ctx.timeoutMs)}${why}; check the Sentinels' hosts and ports in REDIS_URL (Sentinel's default port is 26379) and that they run.`));
  }

  if (/^NOAUTH/.test(msg)) {
    // Only sent when the client gave no password at all.
    return fatal(new ConveyorError('REDIS_AUTH_FAILED', `Redis at ${redacted} refused the credentials: it requires a password and REDIS_URL has none (NOAUTH); put it in REDIS_URL as redis://:password@host:port or redis://user:password@host:port.`));
  }
  if (/WRONGPASS|invalid username-password/i.test(msg)) {
    const user = userOf(redacted);
    const who = user ? `the password is wrong, or the ACL user "${user}" does not exist or is disabled` : 'the password is wrong';
    return fatal(new ConveyorError('REDIS_AUTH_FAILED', `Redis at ${redacted} refused the credentials${why}: ${who}; check the user and password in REDIS_URL.`));
  }
  if (!tls && CLOSED_AT_ONCE.test(msg) && ctx.resets >= RESETS_BEFORE_VERDICT) {
    return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `The server at ${redacted} closes every connection at once${why}, as a TLS-only port does to a plain client; use rediss:// (with REDIS_TLS_CA if its certificate is private).`));
  }
  if (/ECONNREFUSED/.test(msg)) {
    if (sentinel) {
      return waitable(new ConveyorError('REDIS_UNAVAILABLE', `The Sentinels at ${redacted} name a primary that does not accept connections${why}; check that it runs and that the address the Sentinels announce is reachable from here (replica-announce-ip, sentinel announce-hostnames).`));
    }
    return waitable(new ConveyorError('REDIS_UNAVAILABLE', `Nothing is listening at ${redacted}${why}; start Redis or fix the host and port in REDIS_URL.`));
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) {
    return waitable(new ConveyorError('REDIS_UNAVAILABLE', `The host of ${redacted} does not resolve${why}; fix the host in REDIS_URL.`));
  }
  if (tls && !f) {
    const [scheme = 'rediss'] = redacted.split('://');
    return waitable(new ConveyorError('REDIS_TLS_MISMATCH', `No TLS handshake with ${redacted} within ${secs(ctx.timeoutMs)}; if that port is plain (not TLS), use ${scheme.replace(/^rediss/i, 'redis')}:// instead of ${scheme}://; otherwise check that the host is reachable (firewall, security group).`));
  }
  if (CLOSED_AT_ONCE.test(msg) && !tls) {
    return waitable(new ConveyorError('REDIS_TLS_MISMATCH', `The server at ${redacted} closed the connection during the handshake${why}; it may expect TLS: try rediss://.`));
  }
  return waitable(new ConveyorError(
    'REDIS_UNAVAILABLE',
    `Redis at ${redacted} did not become ready within ${secs(ctx.timeoutMs)}${why}; ${tls ? 'check the host, port and REDIS_TLS_CA' : 'if the server requires TLS (ElastiCache Serverless, in-transit encryption) use rediss://, otherwise check REDIS_URL'}.`,
  ));
}

/** Certificate and protocol failures: never cured by waiting. */
function tlsFailure(f: ConnectFailure | undefined, redacted: string): Verdict | undefined {
  if (!f) return undefined;
  const who = f.side === 'sentinel' ? `the Sentinels at ${redacted}` : redacted;
  if ((f.code && CERT_UNTRUSTED.has(f.code)) || CERT_UNTRUSTED_TEXT.test(f.message)) {
    return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `The TLS certificate of ${who} is not trusted (${f.message}); set REDIS_TLS_CA to the PEM file of the CA that signed the server's certificate.`));
  }
  if (f.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /does not match certificate's altnames/i.test(f.message)) {
    return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `The TLS certificate of ${who} does not name the host in REDIS_URL (${f.message}); connect with a host name the certificate lists.`));
  }
  if (f.code === 'CERT_HAS_EXPIRED' || f.code === 'CERT_NOT_YET_VALID' || /certificate has expired|certificate is not yet valid/i.test(f.message)) {
    return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `The TLS certificate of ${who} is not valid now (${f.message}); renew the server's certificate.`));
  }
  if (TLS_PROTOCOL.test(f.message)) {
    return fatal(new ConveyorError('REDIS_TLS_MISMATCH', `TLS failed talking to ${who} (${f.message}); the port does not speak TLS: use redis:// (or redis-sentinel://) for a plain port.`));
  }
  return undefined;
}
