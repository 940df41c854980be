/**
 * Test support (not a test): an interop bridge that stops dead at one point
 * of an item's journey and says so on stdout, so a test can kill -9 it there.
 *   node --import tsx test/interop-crash-child.ts REDIS_URL after-move|after-enqueue QUEUE
 */
import { loadConfig } from '../shared/config/config.ts';
import { silentLogger } from '../shared/log.ts';
import { InteropBridge } from '../shared/interop/bridge.ts';

const [url, point, queue] = process.argv.slice(2) as [string, 'after-move' | 'after-enqueue', string];
const config = loadConfig({ REDIS_URL: url, INTEROP: 'sidekiq,resque', INTEROP_QUEUES: queue });
const hang = async (item: string, source: string) => {
  process.stdout.write(`${JSON.stringify({ paused: point, item, source })}\n`);
  await new Promise(() => {}); // until SIGKILL
};
const bridge = new InteropBridge({ config, logger: silentLogger, hooks: point === 'after-move' ? { afterMove: hang } : { afterEnqueue: hang } });
await bridge.start();
process.stdout.write(`${JSON.stringify({ started: bridge.id })}\n`);
