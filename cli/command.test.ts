import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConveyorError } from '../shared/errors.ts';
import { COMMANDS, runCli } from './run.ts';
import { findCommand } from './command.ts';
import { exitCodeFor, NotFoundError, UsageError } from './exit-codes.ts';
import { table } from './output.ts';

/** Runs the CLI in this process with captured output; no command here reaches Redis. */
async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { REDIS_URL: 'redis://127.0.0.1:1' }, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

test('every command answers --help with its usage, options and exit codes, and exit 0', async () => {
  for (const c of COMMANDS) {
    const r = await cli(...c.path, '--help');
    assert.equal(r.code, 0, c.path.join(' '));
    assert.match(r.stdout, new RegExp(`Usage: conveyor ${c.path.join(' ')}`));
    assert.match(r.stdout, /--json/);
    assert.match(r.stdout, /Exit status: 0 ok, 1 operational failure, 2 usage error, 3 not found/);
    for (const o of Object.keys(c.options ?? {})) assert.match(r.stdout, new RegExp(`--${o}`), `${c.path.join(' ')} --${o}`);
  }
});

test('conveyor --help lists every command; a group word shows its subcommands', async () => {
  const all = await cli('--help');
  assert.equal(all.code, 0);
  for (const c of COMMANDS) assert.ok(all.stdout.includes(c.path.join(' ')), c.path.join(' '));
  const dead = await cli('dead', '--help');
  assert.equal(dead.code, 0);
  assert.match(dead.stdout, /dead replay QUEUE \[ID\]/);
  const bare = await cli('dead');
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /dead list/);
  assert.equal((await cli()).code, 2);
});

test('usage errors exit 2 and point at the help of the command', async () => {
  const cases: [string[], RegExp][] = [
    [['bogus'], /unknown command "bogus"/],
    [['dead', 'bogus'], /unknown command "dead bogus"/],
    [['queues', '--bogus'], /Unknown option '--bogus'/],
    [['jobs', 'get', 'q'], /missing QUEUE ID/],
    [['pause', 'a', 'b'], /unexpected argument "b"/],
    [['dead', 'replay', 'q'], /exactly one of: an ID, --all, --match/],
    [['dead', 'replay', 'q', 'id1', '--all'], /exactly one of/],
    [['jobs', 'list', 'q', '--limit', 'x'], /--limit expects a whole number/],
    [['jobs', 'list', 'q', '--state', 'sleeping'], /--state must be one of/],
    [['enqueue', 'q', 'n', '--data', '{nope'], /--data is not valid JSON/],
    [['schedules', 'set', 's1', '--queue', 'q'], /--name is required/],
    [['migrate', '--from', 'redis://a'], /--from URL and --to URL are both required/],
    [['workers', 'stop'], /give a worker ID or --all/],
  ];
  for (const [argv, msg] of cases) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, msg, argv.join(' '));
    assert.match(r.stderr, /Run 'conveyor.* --help' for usage/, argv.join(' '));
  }
});

test('--json turns errors into {"error": {code, message}} on stdout', async () => {
  const r = await cli('jobs', 'get', 'q', '--json');
  assert.equal(r.code, 2);
  assert.deepEqual(Object.keys(JSON.parse(r.stdout).error), ['code', 'message']);
  assert.equal(JSON.parse(r.stdout).error.code, 'USAGE');
  assert.equal(r.stderr, '');
});

test('a bad REDIS_URL is a usage error (exit 2) naming the variable', async () => {
  let stderr = '';
  const code = await runCli(['queues'], { REDIS_URL: 'http://nope' }, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
  assert.equal(code, 2);
  assert.match(stderr, /REDIS_URL/);
});

test('exit codes: not found 3, bad input 2, conflicts and Redis failures 1', () => {
  assert.equal(exitCodeFor(new ConveyorError('JOB_NOT_FOUND', 'x')), 3);
  assert.equal(exitCodeFor(new ConveyorError('SCHEDULE_NOT_FOUND', 'x')), 3);
  assert.equal(exitCodeFor(new NotFoundError('x')), 3);
  assert.equal(exitCodeFor(new ConveyorError('INVALID_CRON', 'x')), 2);
  assert.equal(exitCodeFor(new ConveyorError('PAYLOAD_TOO_LARGE', 'x')), 2);
  assert.equal(exitCodeFor(new UsageError('x')), 2);
  assert.equal(exitCodeFor(new ConveyorError('REDIS_UNAVAILABLE', 'x')), 1);
  assert.equal(exitCodeFor(new ConveyorError('SCHEDULE_MANAGED_BY_CONFIG', 'x')), 1);
  assert.equal(exitCodeFor(new Error('bug')), 1);
});

test('the longest command path wins; global options may come first', async () => {
  assert.deepEqual(findCommand(COMMANDS, ['workers', 'stop', 'w1'])?.command.path, ['workers', 'stop']);
  assert.deepEqual(findCommand(COMMANDS, ['workers'])?.command.path, ['workers']);
  assert.deepEqual(findCommand(COMMANDS, ['workers', 'w1'])?.rest, ['w1']);
  const r = await cli('--json', '--redis', 'redis://127.0.0.1:1', 'queues', '--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: conveyor queues/);
});

test('tables align columns and show missing values as -', () => {
  assert.equal(table(['A', 'LONGER'], [['xxxx', 1], [null, 'y']]), 'A     LONGER\nxxxx  1\n-     y');
});
