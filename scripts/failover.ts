/**
 * npm run failover: asks the Sentinels for a failover (SENTINEL FAILOVER) and
 * prints old → new primary and how long it took. Against REDIS_URL when it is
 * a Sentinel URL, else against npm run start:ha's Sentinels.
 *
 *   npm run failover            one failover
 *   npm run failover -- --json  the result as one JSON line
 */
import { loadConfig } from '../shared/config/config.ts';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { isConveyorError } from '../shared/errors.ts';
import { triggerFailover } from '../shared/redis/sentinel-admin.ts';
import { haSentinelUrl } from './local-ha.ts';

const json = process.argv.includes('--json');
try {
  const config = loadConfig(process.env);
  const target = config.redisUrlExplicit ? config.redis : parseRedisUrl(haSentinelUrl(config.haBasePort));
  if (!json) process.stdout.write(`asking the Sentinels of ${target.redacted} to fail over...\n`);
  const r = await triggerFailover(target, { tlsCa: config.redisTlsCa });
  process.stdout.write(
    json
      ? `${JSON.stringify({ master: r.masterName, from: r.from, to: r.to, ms: r.ms })}\n`
      : `failover of ${r.masterName}: ${r.from} → ${r.to} in ${r.ms} ms (every Sentinel names the new primary; it answers ROLE master)\n`,
  );
  process.exit(0);
} catch (err) {
  process.stderr.write(`conveyor failover: ${isConveyorError(err) ? `${err.code}: ${err.message}` : String(err)}\n`);
  process.exit(1);
}
