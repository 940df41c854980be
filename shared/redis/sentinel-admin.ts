/**
 * Sentinel administration for operators (npm run failover, the CLI, the
 * board): what the Sentinels see (primary, quorum, replicas, each other) and a
 * failover on demand, timed from the command until every answering Sentinel
 * names the new primary and that node answers ROLE master.
 *
 * Each call opens short-lived connections to the Sentinels (credentials as
 * in sentinel-connector.ts) and closes them; nothing here stays connected.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ConveyorError } from '../errors.ts';
import type { RedisTarget, SentinelTarget } from '../config/redis-url.ts';
import { needsAuth, sentinelCredentialAttempts } from './sentinel-connector.ts';

export interface AdminOptions {
  /** PEM of REDIS_TLS_CA, for rediss-sentinel://. */
  tlsCa?: string | undefined;
  /** Per command. Default 2000. */
  commandTimeoutMs?: number;
}

export interface SentinelStatus {
  address: string;
  answering: boolean;
  /** The primary it names ("host:port"), when it answered. */
  primary?: string;
  error?: string;
}

export interface ReplicaStatus {
  address: string;
  flags: string;
  linkUp: boolean;
  offset: number;
}

export interface SentinelViewResult {
  masterName: string;
  /** The primary the first answering Sentinel names. */
  primary: string | undefined;
  /** Every answering Sentinel names the same primary. */
  agreed: boolean;
  quorum: number | undefined;
  /** SENTINEL MASTER flags ("master", "master,s_down,o_down"...). */
  primaryFlags: string | undefined;
  /** SENTINEL CKQUORUM's answer ("OK 3 usable Sentinels...") or its error. */
  ckquorum: string | undefined;
  sentinels: SentinelStatus[];
  replicas: ReplicaStatus[];
}

export interface FailoverResult {
  masterName: string;
  from: string;
  to: string;
  /** From SENTINEL FAILOVER until the Sentinels agree on the new primary and it answers ROLE master. */
  ms: number;
}

const addr = (host: string, port: number | string) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function fields(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

function sentinelTarget(target: RedisTarget): SentinelTarget {
  if (target.kind !== 'sentinel') {
    throw new ConveyorError('CONFIG_INVALID', `${target.redacted} is not a Sentinel URL: Sentinel commands need redis-sentinel://host:26379[,...]#master. A managed service fails over through its provider (ElastiCache: aws elasticache test-failover; Memorystore: gcloud redis instances failover).`, { variable: 'REDIS_URL' });
  }
  return target;
}

function connect(host: string, port: number, creds: { username?: string | undefined; password?: string | undefined }, tls: boolean, opts: AdminOptions): Redis {
  const options: RedisOptions = {
    host,
    port,
    username: creds.username,
    password: creds.password,
    ...(tls ? { tls: opts.tlsCa ? { ca: opts.tlsCa } : {} } : {}),
    connectTimeout: opts.commandTimeoutMs ?? 2000,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: true,
    enableReadyCheck: false,
    lazyConnect: true,
  };
  const client = new Redis(options);
  // A refused handshake (NOAUTH to HELLO) closes the connection; the command then
  // only says "Connection is closed", so keep the cause.
  client.on('error', (err: Error) => causes.set(client, err));
  return client;
}

const causes = new WeakMap<Redis, Error>();

/** The error that closed the client, rather than "Connection is closed". */
function causeOf(client: Redis, err: unknown): unknown {
  return err instanceof Error && /^Connection is closed/.test(err.message) ? (causes.get(client) ?? err) : err;
}

/** One open connection per answering Sentinel (credentials tried in order). */
class Sentinels {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly target: SentinelTarget, private readonly opts: AdminOptions) {}

  /** Runs SENTINEL args on one Sentinel; rejects with its error. */
  async call(host: string, port: number, ...args: string[]): Promise<unknown> {
    const key = addr(host, port);
    const open = this.clients.get(key);
    if (open) return open.call('SENTINEL', ...args);
    let lastError: unknown;
    for (const creds of sentinelCredentialAttempts(this.target)) {
      const client = connect(host, port, creds, this.target.tls, this.opts);
      try {
        await client.connect();
        const reply = await client.call('SENTINEL', ...args);
        this.clients.set(key, client);
        return reply;
      } catch (err) {
        client.disconnect();
        lastError = causeOf(client, err);
        if (!needsAuth(lastError)) break;
      }
    }
    throw lastError;
  }

  /** The primary each Sentinel names. */
  async statuses(): Promise<SentinelStatus[]> {
    return Promise.all(this.target.sentinels.map(async (s) => {
      const address = addr(s.host, s.port);
      try {
        const r = (await this.call(s.host, s.port, 'GET-MASTER-ADDR-BY-NAME', this.target.masterName)) as string[] | null;
        if (!r || !r[0]) return { address, answering: true, error: `does not monitor a master named "${this.target.masterName}"` };
        return { address, answering: true, primary: addr(r[0], r[1] ?? '') };
      } catch (err) {
        return { address, answering: false, error: (err as Error).message };
      }
    }));
  }

  close(): void {
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }
}

function agreedPrimary(statuses: SentinelStatus[]): string | undefined {
  const named = statuses.filter((s) => s.answering).map((s) => s.primary);
  return named.length > 0 && named.every((p) => p !== undefined && p === named[0]) ? named[0] : undefined;
}

function noneAnswered(target: SentinelTarget, statuses: SentinelStatus[]): ConveyorError {
  const why = statuses.map((s) => `${s.address}: ${s.error ?? 'no answer'}`).join('; ');
  return new ConveyorError('REDIS_UNAVAILABLE', `No Sentinel of ${target.redacted} answered (${why}).`);
}

/** What the Sentinels see. Rejects only when no Sentinel answers. */
export async function sentinelView(redis: RedisTarget, opts: AdminOptions = {}): Promise<SentinelViewResult> {
  const target = sentinelTarget(redis);
  const sentinels = new Sentinels(target, opts);
  try {
    const statuses = await sentinels.statuses();
    const first = target.sentinels.find((_, i) => statuses[i]!.answering && statuses[i]!.primary);
    if (!first) throw noneAnswered(target, statuses);
    const master = fields(await sentinels.call(first.host, first.port, 'MASTER', target.masterName));
    const replicas = ((await sentinels.call(first.host, first.port, 'REPLICAS', target.masterName)) as unknown[]).map(fields);
    const ckquorum = await sentinels.call(first.host, first.port, 'CKQUORUM', target.masterName).then(String, (err: Error) => err.message);
    return {
      masterName: target.masterName,
      primary: statuses.find((s) => s.primary)?.primary,
      agreed: agreedPrimary(statuses) !== undefined,
      quorum: master.quorum === undefined ? undefined : Number(master.quorum),
      primaryFlags: master.flags,
      ckquorum,
      sentinels: statuses,
      replicas: replicas.map((r) => ({
        address: addr(r.ip ?? '', r.port ?? ''),
        flags: r.flags ?? '',
        linkUp: r['master-link-status'] === 'ok',
        offset: Number(r['slave-repl-offset'] ?? 0),
      })),
    };
  } finally {
    sentinels.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SENTINEL FAILOVER, then waits until every answering Sentinel names another
 * primary and that node answers ROLE master (with the URL's data-node
 * credentials). INPROG / NOGOODSLAVE (a failover running, replicas not yet
 * known healthy) are retried for a few seconds, then reported.
 */
export async function triggerFailover(redis: RedisTarget, opts: AdminOptions & { timeoutMs?: number } = {}): Promise<FailoverResult> {
  const target = sentinelTarget(redis);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const sentinels = new Sentinels(target, opts);
  try {
    const before = await sentinels.statuses();
    const from = agreedPrimary(before) ?? before.find((s) => s.primary)?.primary;
    const asked = target.sentinels.find((_, i) => before[i]!.primary);
    if (!from || !asked) throw noneAnswered(target, before);

    const started = Date.now();
    for (;;) {
      try {
        await sentinels.call(asked.host, asked.port, 'FAILOVER', target.masterName);
        break;
      } catch (err) {
        const msg = (err as Error).message;
        if (!/INPROG|NOGOODSLAVE/.test(msg) || Date.now() - started > 10_000) {
          const hint = /NOGOODSLAVE/.test(msg) ? ' (no replica is healthy enough to promote: check SENTINEL REPLICAS)' : /INPROG/.test(msg) ? ' (a failover is already under way)' : '';
          throw new ConveyorError('REDIS_UNAVAILABLE', `Sentinel ${addr(asked.host, asked.port)} refused SENTINEL FAILOVER ${target.masterName}: ${msg}${hint}.`);
        }
        await sleep(250);
      }
    }

    for (;;) {
      const to = agreedPrimary(await sentinels.statuses());
      if (to && to !== from && (await isPrimary(to, target, opts))) return { masterName: target.masterName, from, to, ms: Date.now() - started };
      if (Date.now() - started > timeoutMs) {
        throw new ConveyorError('REDIS_UNAVAILABLE', `The Sentinels did not agree on a new primary for ${target.masterName} within ${timeoutMs / 1000} s of SENTINEL FAILOVER (it was ${from}).`);
      }
      await sleep(100);
    }
  } finally {
    sentinels.close();
  }
}

/** ROLE on a data node with the URL's credentials; false on any error. */
async function isPrimary(address: string, target: SentinelTarget, opts: AdminOptions): Promise<boolean> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) return false;
  const client = connect(m[1]!, Number(m[2]), { username: target.username, password: target.password }, target.tls, opts);
  try {
    await client.connect();
    const role = (await client.call('ROLE')) as unknown[];
    return role[0] === 'master';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
