import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConveyorError } from '../errors.ts';
import { nextRuns, previousRun, validateCron } from './cron.ts';
import { isValidScheduleId, parseScheduleFile, parseScheduleInput } from './schedule-input.ts';

const FROM = new Date('2026-03-07T00:00:00Z');

function rejectsWith(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isConveyorError(err), `expected a ConveyorError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('a 5-field expression gives the next 5 minute-precision runs', () => {
  assert.deepEqual(nextRuns('*/15 * * * *', 'UTC', 5, FROM), [
    '2026-03-07T00:15:00.000Z',
    '2026-03-07T00:30:00.000Z',
    '2026-03-07T00:45:00.000Z',
    '2026-03-07T01:00:00.000Z',
    '2026-03-07T01:15:00.000Z',
  ]);
});

test('a 6-field expression has a leading seconds field', () => {
  assert.deepEqual(nextRuns('*/20 * * * * *', 'UTC', 3, FROM), ['2026-03-07T00:00:20.000Z', '2026-03-07T00:00:40.000Z', '2026-03-07T00:01:00.000Z']);
});

test('the time zone moves the runs, including across a DST change', () => {
  assert.equal(nextRuns('0 9 * * *', 'UTC', 1, FROM)[0], '2026-03-07T09:00:00.000Z');
  // New York is UTC-5 before 8 March 2026 and UTC-4 after
  assert.deepEqual(nextRuns('0 9 * * *', 'America/New_York', 3, FROM), ['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z']);
});

test('previousRun is the run strictly before a time', () => {
  assert.equal(previousRun('0 * * * *', 'UTC', new Date('2026-03-07T05:00:00Z'))?.toISOString(), '2026-03-07T04:00:00.000Z');
});

test('bad expressions are INVALID_CRON naming the cron field', () => {
  rejectsWith(() => validateCron('61 * * * *'), 'INVALID_CRON', /^cron: .*61/);
  rejectsWith(() => validateCron('not a cron'), 'INVALID_CRON', /^cron: /);
  rejectsWith(() => validateCron('* * *'), 'INVALID_CRON', /^cron: .*3 fields/);
  rejectsWith(() => validateCron('* * * * * * *'), 'INVALID_CRON', /^cron: .*7 fields/);
  rejectsWith(() => validateCron(''), 'INVALID_CRON', /^cron: /);
  rejectsWith(() => validateCron('0 0 30 2 *'), 'INVALID_CRON', /^cron: /);
  rejectsWith(() => validateCron('H * * * *'), 'INVALID_CRON', /^cron: .*"H"/);
  rejectsWith(() => validateCron('*/61 * * * *'), 'INVALID_CRON', /^cron: .*step of 61 in the minute field/);
  rejectsWith(() => validateCron('0 */25 * * *'), 'INVALID_CRON', /^cron: .*step of 25 in the hour field/);
  rejectsWith(() => validateCron('*/61 * * * * *'), 'INVALID_CRON', /^cron: .*step of 61 in the second field/);
  assert.doesNotThrow(() => validateCron('0 */24 * * *'));
});

test('an unknown time zone is INVALID_CRON naming the tz field', () => {
  rejectsWith(() => validateCron('* * * * *', 'Mars/Base'), 'INVALID_CRON', /^tz: unknown timezone "Mars\/Base"/);
  rejectsWith(() => validateCron('* * * * *', ''), 'INVALID_CRON', /^tz: /);
});

test('day names and aliases are accepted', () => {
  assert.deepEqual(validateCron(' 0 9 * * THU '), { cron: '0 9 * * THU', tz: 'UTC' });
  assert.equal(nextRuns('@daily', 'UTC', 1, FROM)[0], '2026-03-08T00:00:00.000Z');
});

test('schedule ids are 1-128 of A-Za-z0-9._-', () => {
  assert.ok(isValidScheduleId('nightly-report_v2.1'));
  assert.ok(!isValidScheduleId(''));
  assert.ok(!isValidScheduleId('a:b'));
  assert.ok(!isValidScheduleId('x'.repeat(129)));
});

test('schedule input: defaults, unknown fields, names, options and size', () => {
  assert.deepEqual(parseScheduleInput({ queue: 'mail', name: 'digest', cron: '0 8 * * *' }, 1000), {
    queue: 'mail', name: 'digest', cron: '0 8 * * *', tz: 'UTC', data: null, opts: {},
  });
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', every: 5 }, 1000), 'INVALID_REQUEST', /unknown field "every"/);
  rejectsWith(() => parseScheduleInput({ queue: 'bad queue', name: 'd', cron: '* * * * *' }, 1000), 'INVALID_QUEUE_NAME', /bad queue/);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: '', cron: '* * * * *' }, 1000), 'INVALID_JOB_NAME', /^name: /);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', opts: { jobId: 'x' } }, 1000), 'INVALID_REQUEST', /opts: unknown field "jobId"/);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', opts: { delay: 5 } }, 1000), 'INVALID_REQUEST', /opts: unknown field "delay"/);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', data: 'x'.repeat(2000) }, 1000), 'PAYLOAD_TOO_LARGE', /MAX_PAYLOAD_BYTES/);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: 5 }, 1000), 'INVALID_REQUEST', /^cron: /);
  rejectsWith(() => parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', tz: 'Mars/Base' }, 1000), 'INVALID_CRON', /^tz: unknown timezone "Mars\/Base"/);
  const ok = parseScheduleInput({ queue: 'mail', name: 'd', cron: '* * * * *', opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 }, priority: 3, timeout: 100 } }, 1000);
  assert.deepEqual(ok.opts, { attempts: 2, backoff: { type: 'fixed', delay: 10 }, priority: 3, timeout: 100 });
});

test('schedules file: a valid file parses; any bad entry is CONFIG_INVALID naming file, entry and field', () => {
  const good = JSON.stringify([
    { id: 'a', queue: 'q', name: 'n', cron: '* * * * *' },
    { id: 'b', queue: 'q', name: 'n', cron: '0 9 * * *', tz: 'Europe/Paris', data: { x: 1 } },
  ]);
  const parsed = parseScheduleFile(good, 'schedules.json', 1000);
  assert.deepEqual([...parsed.keys()], ['a', 'b']);
  assert.equal(parsed.get('b')?.tz, 'Europe/Paris');
  rejectsWith(() => parseScheduleFile('{', 's.json', 1000), 'CONFIG_INVALID', /s\.json: not valid JSON/);
  rejectsWith(() => parseScheduleFile('{}', 's.json', 1000), 'CONFIG_INVALID', /expected a JSON array/);
  rejectsWith(() => parseScheduleFile(JSON.stringify([{ id: 'a', queue: 'q', name: 'n', cron: '* * * * *' }, { id: 'b', queue: 'q', name: 'n', cron: '99 * * * *' }]), 's.json', 1000), 'CONFIG_INVALID', /entry 1 \(id "b"\): cron: /);
  rejectsWith(() => parseScheduleFile(JSON.stringify([{ id: 'a', queue: 'q', name: 'n', cron: '* * * * *' }, { id: 'a', queue: 'q', name: 'n', cron: '* * * * *' }]), 's.json', 1000), 'CONFIG_INVALID', /more than once/);
  rejectsWith(() => parseScheduleFile(JSON.stringify([{ queue: 'q', name: 'n', cron: '* * * * *' }]), 's.json', 1000), 'CONFIG_INVALID', /entry 0: id: /);
});
