/**
 * Parses every REDIS_URL form of SPEC into one RedisTarget, and redacts
 * secrets for logs. Forms (Lettuce convention for Sentinel):
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...                                   (TLS)
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db][?sentinelPassword=..]#master
 *   rediss-sentinel://...                          (TLS)
 *   redis-cluster://host:port[,host:port...]       (rediss-cluster:// for TLS)
 */
import { isIP } from 'node:net';
import { ConveyorError } from '../errors.ts';

export interface HostPort {
  host: string;
  port: number;
}

interface TargetBase {
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
  /** The URL with its password replaced by ***, for logs and errors. */
  redacted: string;
}

export interface StandaloneTarget extends TargetBase {
  kind: 'standalone';
  host: string;
  port: number;
  db: number;
}

/**
 * Sentinel credentials follow the Lettuce / Spring Data Redis convention: the
 * URL's user and password are for the data nodes. Sentinels often have no
 * password; when they have their own, `?sentinelPassword=` (and
 * `sentinelUsername=`) set it. When neither is given, the connection asks the
 * Sentinels without credentials and, if one answers NOAUTH, retries with the
 * URL's (the common "one password everywhere" setup): see redis/sentinel-connector.ts.
 */
export interface SentinelTarget extends TargetBase {
  kind: 'sentinel';
  sentinels: HostPort[];
  masterName: string;
  db: number;
  /** From ?sentinelUsername= (undefined: none given). */
  sentinelUsername?: string | undefined;
  /** From ?sentinelPassword= (undefined: none given). */
  sentinelPassword?: string | undefined;
}

export interface ClusterTarget extends TargetBase {
  kind: 'cluster';
  nodes: HostPort[];
}

export type RedisTarget = StandaloneTarget | SentinelTarget | ClusterTarget;

const SCHEMES: Record<string, { kind: RedisTarget['kind']; tls: boolean; defaultPort: number }> = {
  'redis:': { kind: 'standalone', tls: false, defaultPort: 6379 },
  'rediss:': { kind: 'standalone', tls: true, defaultPort: 6379 },
  'redis-sentinel:': { kind: 'sentinel', tls: false, defaultPort: 26379 },
  'rediss-sentinel:': { kind: 'sentinel', tls: true, defaultPort: 26379 },
  'redis-cluster:': { kind: 'cluster', tls: false, defaultPort: 6379 },
  'rediss-cluster:': { kind: 'cluster', tls: true, defaultPort: 6379 },
};

const FORMS =
  'redis://[user:password@]host[:port][/db], rediss://..., ' +
  'redis-sentinel://[user:password@]host[:port][,host:port...][/db][?sentinelPassword=...]#mastername, ' +
  'or redis-cluster://host:port[,host:port...]';

function invalid(redacted: string, why: string, variable = 'REDIS_URL'): ConveyorError {
  return new ConveyorError('REDIS_URL_INVALID', `${variable} "${redacted}" is invalid: ${why}. Expected ${FORMS}.`, {
    url: redacted,
    variable,
  });
}

/**
 * Splits "user:password@rest" at the LAST "@": passwords that clouds generate
 * often hold "/", "?", "#" or "@" unescaped, and the host part never has "@".
 */
function splitAuth(rest: string): { auth: string | undefined; hostPart: string } {
  const at = rest.lastIndexOf('@');
  return at === -1 ? { auth: undefined, hostPart: rest } : { auth: rest.slice(0, at), hostPart: rest.slice(at + 1) };
}

/** Query parameters whose values are secrets. */
const SECRET_PARAMS = /([?&]sentinelPassword=)[^&#]*/gi;

/** Replaces the passwords of any URL-ish string with ***; tolerant of garbage (no scheme, unescaped characters). */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?([\s\S]*)$/i.exec(url);
  const scheme = m?.[1] ?? '';
  const { auth, hostPart } = splitAuth(m?.[2] ?? url);
  const host = hostPart.replace(SECRET_PARAMS, '$1***');
  if (auth === undefined) return `${scheme}${host}`;
  const colon = auth.indexOf(':');
  // redis://secret@host is the old bare-password form: hide all of it.
  return `${scheme}${colon === -1 ? '***' : `${auth.slice(0, colon)}:***`}@${host}`;
}

type Fail = (why: string) => ConveyorError;

function parsePort(raw: string, defaultPort: number, fail: Fail): number {
  if (raw === '') return defaultPort;
  if (!/^\d+$/.test(raw)) throw fail(`port "${raw}" is not a number`);
  const port = Number(raw);
  if (port < 1 || port > 65535) throw fail(`port ${port} is out of range 1-65535`);
  return port;
}

function parseHostPort(raw: string, defaultPort: number, fail: Fail): HostPort {
  if (raw === '' || raw.startsWith(':')) throw fail('a host name is empty');
  // [::1]:6379, host:6379, host
  const m = /^(\[[^\]]*\]|[^:[\]]+)(?::(.*))?$/.exec(raw);
  if (!m || !m[1]) throw fail(`"${raw}" is not host[:port] (write IPv6 addresses in brackets: [::1]:6379)`);
  if (m[1].startsWith('[')) {
    const ip = m[1].slice(1, -1);
    if (isIP(ip) !== 6) throw fail(`"${ip}" in brackets is not an IPv6 address`);
    return { host: ip, port: parsePort(m[2] ?? '', defaultPort, fail) };
  }
  const host = m[1];
  if (!/^[A-Za-z0-9._-]+$/.test(host)) throw fail(`host "${host}" has characters a host name cannot have`);
  return { host, port: parsePort(m[2] ?? '', defaultPort, fail) };
}

function decode(part: string, what: string, fail: Fail): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw fail(`the ${what} has a bad %-escape (write a literal % as %25)`);
  }
}

function parseDb(raw: string, fail: Fail): number {
  if (!/^\d+$/.test(raw)) throw fail(`database "${raw}" is not a number`);
  const db = Number(raw);
  if (db > 15) throw fail(`database ${db} is out of range 0-15`);
  return db;
}

/**
 * Parses a Redis URL. `variable` names the setting it came from, for the
 * message (REDIS_URL, DRAIN_REDIS_URLS).
 */
export function parseRedisUrl(url: string, variable = 'REDIS_URL'): RedisTarget {
  const trimmed = url.trim();
  const redacted = redactUrl(trimmed);
  const fail: Fail = (why) => invalid(redacted, why, variable);
  const m = /^([a-z][a-z0-9+.-]*:)\/\/([\s\S]*)$/i.exec(trimmed);
  if (!m || !m[1]) throw fail('it has no scheme://');
  const scheme = SCHEMES[m[1].toLowerCase()];
  if (!scheme) throw fail(`unknown scheme "${m[1]}//"`);

  const { auth, hostPart } = splitAuth(m[2] ?? '');
  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    if (colon === -1) {
      password = decode(auth, 'password', fail) || undefined; // redis://password@host (old form)
    } else {
      username = decode(auth.slice(0, colon), 'user', fail) || undefined;
      password = decode(auth.slice(colon + 1), 'password', fail) || undefined;
    }
  }

  let rest = hostPart;
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    fragment = decode(rest.slice(hash + 1), 'master name', fail);
    rest = rest.slice(0, hash);
  }
  let query = '';
  const q = rest.indexOf('?');
  if (q !== -1) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (/\?[A-Za-z]+=/.test(fragment)) throw fail('the ?parameters go before the #master name (…:26379?sentinelPassword=…#mymaster)');
  let db = 0;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const dbPart = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (dbPart !== '') db = parseDb(dbPart, fail);
  }
  const sentinelParams: { sentinelUsername?: string; sentinelPassword?: string; sentinelMasterId?: string } = {};
  for (const pair of query === '' ? [] : query.split('&')) {
    // ?db=N is a common alias; the sentinel* ones are Lettuce's / Spring's; anything
    // else is a typo we should not silently ignore.
    const eq = pair.indexOf('=');
    const k = eq === -1 ? pair : pair.slice(0, eq);
    const v = eq === -1 ? '' : pair.slice(eq + 1);
    if (k === 'db') db = parseDb(v, fail);
    else if (k === 'sentinelPassword' || k === 'sentinelUsername' || k === 'sentinelMasterId') {
      if (scheme.kind !== 'sentinel') throw fail(`"${k}" belongs to redis-sentinel:// URLs`);
      sentinelParams[k] = decode(v, k, fail);
    } else throw fail(`unsupported query parameter "${k}" (understood: db, and for Sentinel sentinelPassword, sentinelUsername, sentinelMasterId)`);
  }
  if (rest === '') throw fail('it names no host');
  const hosts = rest.split(',').map((h) => parseHostPort(h, scheme.defaultPort, fail));
  const base = { username, password, tls: scheme.tls, redacted };

  switch (scheme.kind) {
    case 'standalone': {
      if (hosts.length !== 1) throw fail('a redis:// URL names one host (use redis-sentinel:// or redis-cluster:// for several)');
      if (fragment) throw fail('"#name" belongs to redis-sentinel:// URLs');
      const h = hosts[0]!;
      return { kind: 'standalone', ...base, host: h.host, port: h.port, db };
    }
    case 'sentinel': {
      // Lettuce accepts the master name as ?sentinelMasterId= too.
      const masterName = fragment || sentinelParams.sentinelMasterId;
      if (fragment && sentinelParams.sentinelMasterId && fragment !== sentinelParams.sentinelMasterId) {
        throw fail(`two master names: "#${fragment}" and sentinelMasterId=${sentinelParams.sentinelMasterId}`);
      }
      if (!masterName) throw fail('a Sentinel URL needs the master name after "#" (…#mymaster)');
      return {
        kind: 'sentinel', ...base, sentinels: hosts, masterName, db,
        sentinelUsername: sentinelParams.sentinelUsername || undefined,
        sentinelPassword: sentinelParams.sentinelPassword || undefined,
      };
    }
    case 'cluster':
      if (db !== 0) throw fail('Redis Cluster has only database 0');
      if (fragment) throw fail('"#name" belongs to redis-sentinel:// URLs');
      return { kind: 'cluster', ...base, nodes: hosts };
  }
}
