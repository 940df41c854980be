/**
 * Runs one command line: find the command, parse it, run it, map what went
 * wrong to a message and an exit status. No I/O beyond the Output and the
 * context it is given, so tests drive it directly.
 */
import { isConveyorError } from '../shared/errors.ts';
import { commandHelp, commandName, findCommand, groupHelp, parseCommandArgs, type CommandSpec } from './command.ts';
import { CliContext } from './context.ts';
import { errorCodeOf, exitCodeFor, EXIT, UsageError } from './exit-codes.ts';
import { Output, type Streams } from './output.ts';
import { queueCommands } from './queues.ts';
import { limitsCommands } from './limits.ts';
import { jobCommands } from './jobs.ts';
import { deadCommands } from './dead.ts';
import { scheduleCommands } from './schedules.ts';
import { batchCommands } from './batches.ts';
import { historyCommands } from './history.ts';
import { workerCommands } from './workers.ts';
import { redisCommands } from './redis.ts';
import { migrateCommands } from './migrate.ts';
import { interopCommands } from './interop.ts';
import { platformCommands } from './platform-commands.ts';

export const COMMANDS: readonly CommandSpec[] = [...platformCommands, ...queueCommands, ...limitsCommands, ...jobCommands, ...deadCommands, ...scheduleCommands, ...batchCommands, ...historyCommands, ...workerCommands, ...redisCommands, ...migrateCommands, ...interopCommands];

const INTRO = [
  'conveyor - operate Conveyor queues from the command line.',
  '',
  'Uses the same configuration as the server and workers: REDIS_URL (or --redis URL),',
  'REDIS_TLS_CA, REDIS_COMMAND_TIMEOUT_MS. Exit status: 0 ok, 1 operational failure,',
  '2 usage error, 3 not found.',
].join('\n');

type Env = Record<string, string | undefined>;

export async function runCli(argv: string[], env: Env, streams: Streams = process): Promise<number> {
  const wantsJson = argv.includes('--json');
  const out = new Output(wantsJson, streams);
  const words = argv.filter((a) => !a.startsWith('-'));
  const help = argv.includes('--help') || argv.includes('-h');

  if (argv.length === 0 || (words.length === 0 && help) || (words[0] === 'help' && words.length === 1)) {
    streams.stdout.write(`${groupHelp(COMMANDS, [], INTRO)}\n`);
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
  }
  // Global options may come before the command words: `conveyor --json queues`.
  const { leading, rest } = splitLeadingOptions(argv);
  const lookup = words[0] === 'help' ? words.slice(1) : rest;
  const found = findCommand(COMMANDS, lookup);
  if (!found) {
    // Group words alone (`conveyor dead`, `conveyor interop rejected`) or with --help show the group.
    const group = groupOf(lookup);
    const next = lookup[group.length];
    if (group.length > 0 && (help || words[0] === 'help' || next === undefined || next.startsWith('-'))) {
      const asked = help || words[0] === 'help';
      (asked ? streams.stdout : streams.stderr).write(`${groupHelp(COMMANDS, group)}\n`);
      return asked ? EXIT.OK : EXIT.USAGE;
    }
    const unknown = [...group, next ?? ''].join(' ');
    return fail(out, streams, new UsageError(`unknown command "${unknown}"`, ['conveyor', ...group].join(' ')));
  }
  if (words[0] === 'help') {
    streams.stdout.write(`${commandHelp(found.command)}\n`);
    return EXIT.OK;
  }

  let ctx: CliContext | undefined;
  try {
    const input = parseCommandArgs(found.command, [...found.rest, ...leading]);
    if (input.global.help) {
      streams.stdout.write(`${commandHelp(found.command)}\n`);
      return EXIT.OK;
    }
    ctx = new CliContext({ env, json: input.global.json, redis: input.global.redis, out });
    const code = await found.command.run(ctx, input);
    return code ?? EXIT.OK;
  } catch (err) {
    return fail(out, streams, err instanceof UsageError && !err.command ? new UsageError(err.message, commandName(found.command)) : err);
  } finally {
    await ctx?.close();
  }
}

function fail(out: Output, streams: Streams, err: unknown): number {
  const code = exitCodeFor(err);
  const message = err instanceof Error ? err.message : String(err);
  if (out.json) {
    out.result({ error: { code: errorCodeOf(err), message, ...(isConveyorError(err) && err.details ? { details: err.details } : {}) } }, '');
  } else {
    const where = isConveyorError(err) ? `${err.code}: ` : '';
    streams.stderr.write(`conveyor: ${where}${message}\n`);
    if (err instanceof UsageError) streams.stderr.write(`Run '${err.command ?? 'conveyor'} --help' for usage.\n`);
    else if (code === EXIT.FAILURE && !isConveyorError(err) && err instanceof Error && err.stack) streams.stderr.write(`${err.stack}\n`);
  }
  return code;
}

/** Splits `--json --redis URL queues …` into the leading options and the rest. */
function splitLeadingOptions(argv: string[]): { leading: string[]; rest: string[] } {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) i += argv[i] === '--redis' ? 2 : 1;
  return { leading: argv.slice(0, i), rest: argv.slice(i) };
}

/** The longest run of leading words that starts some command path without naming a command ([] if none). */
function groupOf(words: string[]): string[] {
  let group: string[] = [];
  for (let n = 1; n <= words.length; n++) {
    const prefix = words.slice(0, n);
    if (COMMANDS.some((c) => c.path.length > n && prefix.every((w, i) => c.path[i] === w))) group = prefix;
    else break;
  }
  return group;
}
