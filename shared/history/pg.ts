/**
 * Postgres connections of the history (node-postgres). Every connection has a
 * connect timeout, a statement timeout and TCP keep-alive, so a Postgres that
 * is down or frozen is an error within seconds, never a hang; an idle
 * connection that dies emits 'error', which is caught here (an uncaught one
 * would end the process).
 */
import pg from 'pg';

export type PgClient = pg.Client;
export type PgPool = pg.Pool;

export interface PgOptions {
  /** application_name, seen in pg_stat_activity. */
  name: string;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

// int8 (count(*), bigint sums) as numbers: history's counts stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

function settings(url: string, o: PgOptions): pg.ClientConfig {
  return {
    connectionString: url,
    application_name: o.name,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5000,
    statement_timeout: o.statementTimeoutMs ?? 30_000,
    query_timeout: (o.statementTimeoutMs ?? 30_000) + 5000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
  };
}

/** One connection (the archiver's: it holds the leadership lock for its whole life). */
export async function connectClient(url: string, o: PgOptions, onError: (err: Error) => void): Promise<pg.Client> {
  const client = new pg.Client(settings(url, o));
  client.on('error', onError);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/** A small pool for queries (the API, the library). */
export function createPool(url: string, o: PgOptions & { max?: number }): pg.Pool {
  const pool = new pg.Pool({ ...settings(url, o), max: o.max ?? 4, idleTimeoutMillis: 30_000 });
  pool.on('error', () => {}); // an idle connection that died: the pool drops it, the next query opens another
  return pool;
}

/** A connection failure (refused, reset, timed out, the server shutting down) rather than a bad query. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(code)) return true;
  // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions.
  if (/^(57P0[123]|08)/.test(code)) return true;
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|not queryable/i.test(msg);
}
