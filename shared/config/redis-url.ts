/**
 * Parses every REDIS_URL form of SPEC into one RedisTarget, and redacts
 * secrets for logs. Forms (Lettuce convention for Sentinel):
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...                                   (TLS)
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master
 *   rediss-sentinel://...                          (TLS)
 *   redis-cluster://host:port[,host:port...]       (rediss-cluster:// for TLS)
 */
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

function invalid(redacted: string, why: string): ConveyorError {
  return new ConveyorError('REDIS_URL_INVALID', `REDIS_URL "${redacted}" is invalid: ${why}. Expected ${FORMS}.`, {
    url: redacted,
  });
}

/** Replaces the password of any URL-ish string with ***; tolerant of garbage. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    if (colon === -1) return `${scheme}***@`; // redis://secret@host: a bare password
    return `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

function parsePort(raw: string, defaultPort: number, redacted: string): number {
  if (raw === '') return defaultPort;
  if (!/^\d+$/.test(raw)) throw invalid(redacted, `port "${raw}" is not a number`);
  const port = Number(raw);
  if (port < 1 || port > 65535) throw invalid(redacted, `port ${port} is out of range 1-65535`);
  return port;
}

function parseHostPort(raw: string, defaultPort: number, redacted: string): HostPort {
  // [::1]:6379, host:6379, host
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(.*))?$/.exec(raw);
  if (!m || !m[1]) throw invalid(redacted, `"${raw}" is not host[:port]`);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
  if (!/^[A-Za-z0-9._\-:]+$/.test(host)) throw invalid(redacted, `host "${host}" has characters a hostname cannot have`);
  return { host, port: parsePort(m[2] ?? '', defaultPort, redacted) };
}

function decode(part: string, redacted: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(redacted, 'the user or password has a bad %-escape');
  }
}

export function parseRedisUrl(url: string): RedisTarget {
  const redacted = redactUrl(url.trim());
  const m = /^([a-z][a-z0-9+.-]*:)\/\/(.*)$/i.exec(url.trim());
  if (!m || !m[1]) throw invalid(redacted, 'it has no scheme://');
  const scheme = SCHEMES[m[1].toLowerCase()];
  if (!scheme) throw invalid(redacted, `unknown scheme "${m[1]}"`);
  let rest = m[2] ?? '';

  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    fragment = decode(rest.slice(hash + 1), redacted);
    rest = rest.slice(0, hash);
  }
  let query = '';
  const q = rest.indexOf('?');
  if (q !== -1) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    if (colon === -1) {
      password = decode(auth, redacted); // redis://password@host (old form)
    } else {
      username = decode(auth.slice(0, colon), redacted) || undefined;
      password = decode(auth.slice(colon + 1), redacted) || undefined;
    }
  }
  let dbPart = '';
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    dbPart = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
  }
  let db = 0;
  if (dbPart !== '') {
    if (!/^\d+$/.test(dbPart)) throw invalid(redacted, `database "${dbPart}" is not a number`);
    db = Number(dbPart);
    if (db > 15) throw invalid(redacted, `database ${db} is out of range 0-15`);
  }
  if (query !== '') {
    // ?db=N is a common alias; anything else is a typo we should not silently ignore.
    for (const pair of query.split('&')) {
      const [k, v = ''] = pair.split('=');
      if (k === 'db' && /^\d+$/.test(v)) db = Number(v);
      else throw invalid(redacted, `unsupported query parameter "${k}"`);
    }
  }
  if (rest === '') throw invalid(redacted, 'it names no host');
  const hosts = rest.split(',').map((h) => parseHostPort(h, scheme.defaultPort, redacted));
  const base = { username, password, tls: scheme.tls, redacted };

  switch (scheme.kind) {
    case 'standalone': {
      if (hosts.length !== 1) throw invalid(redacted, 'a redis:// URL names one host (use redis-sentinel:// for several)');
      if (fragment) throw invalid(redacted, '"#name" belongs to redis-sentinel:// URLs');
      const h = hosts[0]!;
      return { kind: 'standalone', ...base, host: h.host, port: h.port, db };
    }
    case 'sentinel':
      if (!fragment) throw invalid(redacted, 'a Sentinel URL needs the master name after "#" (…#mymaster)');
      return { kind: 'sentinel', ...base, sentinels: hosts, masterName: fragment, db };
    case 'cluster':
      if (db !== 0) throw invalid(redacted, 'Redis Cluster has only database 0');
      if (fragment) throw invalid(redacted, '"#name" belongs to redis-sentinel:// URLs');
      return { kind: 'cluster', ...base, nodes: hosts };
  }
}
