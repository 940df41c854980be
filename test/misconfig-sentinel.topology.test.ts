/**
 * Misconfiguration of a Sentinel URL, end to end: for the server, the worker
 * and the dashboard, an unknown master name, Sentinels that do not answer,
 * Sentinels that require a password the URL lacks, and TLS Sentinels behind a
 * plain URL each end the process within 10 s with one stderr line naming the
 * fix (timings printed).
 */
import { test, before, after } from 'node:test';
import { startTopology, type Topology } from '../shared/testing/redis-topology.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { assertAllClear, failedStarts } from './start-failure.ts';

const PASSWORD = 'sentinel-misconfig-secret';
let topo: Topology;

before(async () => {
  topo = await startTopology({ replicas: 1, password: PASSWORD });
});
after(async () => {
  await topo?.stop();
});

test('an unknown master name: CONFIG_INVALID naming the name and the "sentinel monitor" line, fast', async () => {
  const f = await failedStarts({ REDIS_URL: topo.sentinelUrl.replace(/#.*$/, '#no-such-master') });
  assertAllClear('unknown master', f, 'CONFIG_INVALID', [/do not monitor a master named "no-such-master"/, /sentinel monitor <name>/], [PASSWORD]);
});

test('no Sentinel answers: REDIS_UNAVAILABLE naming the Sentinel hosts and the default port', async () => {
  const [a, b] = await Promise.all([freePort(), freePort()]);
  const f = await failedStarts({ REDIS_URL: `redis-sentinel://127.0.0.1:${a},127.0.0.1:${b}#conveyor` });
  assertAllClear('no sentinel', f, 'REDIS_UNAVAILABLE', [/No Sentinel answered at redis-sentinel:\/\/127\.0\.0\.1/, /ECONNREFUSED/, /26379/]);
});

test('Sentinels that require a password the URL lacks: REDIS_AUTH_FAILED naming both fixes', async () => {
  const f = await failedStarts({ REDIS_URL: topo.sentinelUrl.replace(/\/\/[^@]*@/, '//') });
  assertAllClear('sentinel NOAUTH', f, 'REDIS_AUTH_FAILED', [/require a password and REDIS_URL gives none/, /\?sentinelPassword=/]);
});

test('TLS Sentinels behind redis-sentinel://: REDIS_TLS_MISMATCH "use rediss-sentinel://", fast', async (t) => {
  const tls = await startTopology({ replicas: 1, sentinels: 2, tls: true });
  t.after(() => tls.stop());
  const f = await failedStarts({ REDIS_URL: tls.sentinelUrl.replace(/^rediss-/, 'redis-') });
  assertAllClear('plain→TLS sentinels', f, 'REDIS_TLS_MISMATCH', [/use rediss-sentinel:\/\//]);
});
