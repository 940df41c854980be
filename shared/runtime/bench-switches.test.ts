import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConveyorError } from '../errors.ts';
import { BENCH_PARTS, parseBenchOff } from './bench-switches.ts';

test('CONVEYOR_BENCH_OFF: known parts are switched off; an unknown one is refused with the list of valid ones', () => {
  assert.deepEqual([...parseBenchOff(undefined)], []);
  assert.deepEqual([...parseBenchOff(' heartbeat, gate ')].sort(), ['gate', 'heartbeat']);
  assert.throws(
    () => parseBenchOff('heartbeat,tracing'),
    (e) => isConveyorError(e, 'CONFIG_INVALID') && e.message.includes('"tracing"') && e.message.includes(BENCH_PARTS.join(', ')),
  );
});
