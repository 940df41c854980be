/**
 * Parses every REDIS_URL form of SPEC into one RedisTarget, and redacts
 * secrets for logs. Forms (Lettuce convention for Sentinel):
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...                                   (TLS)
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master
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

export interface SentinelTarget extends TargetBase {
  kind: 'sentinel';
  sentinels: HostPort[];
  masterName: string;
  db: number;
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
  'redis-sentinel://[user:password@]host[:port][,host:port...][/db]#mastername, ' +
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

/** Replaces the password of any URL-ish string with ***; tolerant of garbage (no scheme, unescaped characters). */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?([\s\S]*)$/i.exec(url);
  const scheme = m?.[1] ?? '';
  const { auth, hostPart } = splitAuth(m?.[2] ?? url);
  if (auth === undefined) return url;
  const colon = auth.indexOf(':');
  // redis://secret@host is the old bare-password form: hide all of it.
  return `${scheme}${colon === -1 ? '***' : `${auth.slice(0, colon)}:***`}@${hostPart}`;
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
  let db = 0;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const dbPart = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (dbPart !== '') db = parseDb(dbPart, fail);
  }
  for (const pair of query === '' ? [] : query.split('&')) {
    // ?db=N is a common alias; anything else is a typo we should not silently ignore.
    const [k = '', v = ''] = pair.split('=');
    if (k === 'db') db = parseDb(v, fail);
    else throw fail(`unsupported query parameter "${k}" (only db is understood)`);
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
    case 'sentinel':
      if (!fragment) throw fail('a Sentinel URL needs the master name after "#" (…#mymaster)');
      return { kind: 'sentinel', ...base, sentinels: hosts, masterName: fragment, db };
    case 'cluster':
      if (db !== 0) throw fail('Redis Cluster has only database 0');
      if (fragment) throw fail('"#name" belongs to redis-sentinel:// URLs');
      return { kind: 'cluster', ...base, nodes: hosts };
  }
}
