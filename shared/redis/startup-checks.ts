/**
 * Startup checks: settings of the Redis behind REDIS_URL that lose jobs or
 * fail every write, each reported as one clear warning when a process starts.
 *
 *  - maxmemory-policy other than noeviction: a full Redis evicts keys, and an
 *    evicted queue key is a lost job (volatile-* policies evict the job locks,
 *    which have a TTL, so running jobs are run again);
 *  - persistence off on a primary (no AOF, no RDB save point): a restart
 *    empties the queues;
 *  - the endpoint is a replica (every write fails with READONLY), or a Sentinel.
 *
 * Managed services (ElastiCache, Memorystore, Azure) forbid CONFIG GET: the
 * facts then come from INFO, which every service answers; what INFO cannot
 * tell (RDB save points) is skipped, never guessed. A check that cannot run
 * never stops a process from starting.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection } from './connections.ts';

export type StartupCheck = 'role' | 'maxmemory-policy' | 'persistence';

export interface Finding {
  check: StartupCheck;
  /** One line: what is wrong, why it matters, what to change. */
  message: string;
  details: Record<string, string | number | boolean>;
}

export interface StartupReport {
  findings: Finding[];
  /** Checks that could not run, with the reason (CONFIG GET refused...). */
  skipped: { check: StartupCheck; reason: string }[];
  /** Where the settings came from. */
  source: 'config' | 'info';
}

/** INFO's "key:value" lines, all sections. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

/** CONFIG GET name, or undefined when the server refuses CONFIG (ACL, managed service). */
async function configGet(conn: RedisConnection, name: string): Promise<string | undefined> {
  try {
    const reply = (await conn.call('CONFIG', 'GET', name)) as unknown[];
    return reply.length >= 2 ? String(reply[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the settings and judges them; throws only if INFO itself fails. */
export async function inspectRedisSetup(conn: RedisConnection): Promise<StartupReport> {
  const info = parseInfo(String(await conn.call('INFO')));
  const findings: Finding[] = [];
  const skipped: StartupReport['skipped'] = [];
  const [policyConf, aofConf, saveConf] = [await configGet(conn, 'maxmemory-policy'), await configGet(conn, 'appendonly'), await configGet(conn, 'save')];
  const source = policyConf === undefined ? 'info' : 'config';

  if (info.redis_mode === 'sentinel') {
    findings.push({
      check: 'role',
      message: 'REDIS_URL points at a Sentinel, not a Redis data node: queues cannot live there. Use redis-sentinel://host:26379[,host:port...]#<master name> to reach the primary through the Sentinels.',
      details: { role: 'sentinel' },
    });
    return { findings, skipped, source };
  }

  const role = info.role ?? 'unknown';
  if (role === 'slave') {
    const primary = info.master_host ? `${info.master_host}:${info.master_port}` : 'unknown';
    findings.push({
      check: 'role',
      message: `REDIS_URL points at a replica (its primary is ${primary}): every enqueue and every job update fails with READONLY. Point REDIS_URL at the primary: on ElastiCache the primary endpoint, not the reader endpoint; with Sentinel a redis-sentinel:// URL.`,
      details: { role: 'replica', primary },
    });
  }

  const policy = policyConf ?? info.maxmemory_policy;
  if (policy === undefined) skipped.push({ check: 'maxmemory-policy', reason: 'neither CONFIG GET nor INFO memory reports it' });
  else if (policy !== 'noeviction') {
    findings.push({
      check: 'maxmemory-policy',
      message: `maxmemory-policy is ${policy}, not noeviction: when Redis reaches maxmemory it evicts keys, and an evicted queue key is a lost job (volatile-* policies evict job locks, so running jobs run twice). Set maxmemory-policy noeviction (on a managed service: in its parameter group or configuration); a full Redis then refuses new jobs instead.`,
      details: { maxmemoryPolicy: policy },
    });
  }

  if (role === 'master') {
    const aof = aofConf !== undefined ? aofConf === 'yes' : info.aof_enabled === undefined ? undefined : info.aof_enabled === '1';
    if (aof === undefined) skipped.push({ check: 'persistence', reason: 'neither CONFIG GET nor INFO persistence reports appendonly' });
    else if (!aof && saveConf === undefined) {
      // INFO has no save points: without CONFIG GET we cannot tell RDB snapshots from none.
      skipped.push({ check: 'persistence', reason: 'AOF is off and CONFIG GET save is refused, so RDB snapshots cannot be checked' });
    } else if (!aof && saveConf?.trim() === '') {
      findings.push({
        check: 'persistence',
        message: 'Persistence is off on the primary (appendonly no, no RDB save points): a restart of Redis loses every queued job, and a primary restarted empty makes its replicas empty too. Turn on AOF: appendonly yes, appendfsync everysec.',
        details: { appendonly: false, save: '' },
      });
    }
  }
  return { findings, skipped, source };
}

export interface CheckOptions {
  /** How long to wait for Redis before giving up quietly. Default 10 s. */
  readyTimeoutMs?: number;
}

/**
 * Runs the checks on a connection of its own and logs one warning per finding.
 * Never rejects: a Redis that cannot be reached is the starting service's
 * error to report, not this check's.
 */
export async function checkRedisAtStart(config: Readonly<Config>, log: Logger, opts: CheckOptions = {}): Promise<StartupReport | undefined> {
  // No logger on the connection: its errors are the service's to report.
  const conn = createRedis(config.redis, { role: 'inspector', tlsCa: config.redisTlsCa, commandTimeoutMs: 3000, name: 'conveyor-startup-checks' });
  try {
    await waitUntilReady(conn, config.redis.redacted, opts.readyTimeoutMs ?? 10_000);
    const report = await inspectRedisSetup(conn);
    for (const f of report.findings) log.warn({ check: f.check, ...f.details, redis: config.redis.redacted }, f.message);
    for (const s of report.skipped) log.info({ check: s.check, redis: config.redis.redacted }, `startup check skipped: ${s.reason}`);
    log.info({ findings: report.findings.map((f) => f.check), source: report.source }, 'startup checks done');
    return report;
  } catch (err) {
    log.debug({ err: err instanceof Error ? err.message : String(err) }, 'startup checks did not run');
    return undefined;
  } finally {
    await closeRedis(conn);
  }
}
