/**
 * The shape of a CLI command and the parsing every command shares: words
 * pick the command (longest match), node:util parseArgs reads the rest
 * strictly, and a command's spec is also its --help.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './exit-codes.ts';
import type { CliContext } from './context.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in help ("JSON", "N"). */
  value?: string;
  help: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface CommandInput {
  args: string[];
  opts: OptionValues;
}

export interface CommandSpec {
  /** The words after `conveyor`: ['dead', 'replay']. */
  path: string[];
  /** Positional synopsis for help: "QUEUE [ID]". */
  args?: string;
  minArgs?: number;
  maxArgs?: number;
  summary: string;
  /** More help text: behaviour, examples. */
  details?: string;
  options?: Record<string, OptionSpec>;
  /** Resolves with nothing (exit 0) or an exit code; throws for failures. */
  run(ctx: CliContext, input: CommandInput): Promise<number | void>;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'print the result as one JSON document on stdout' },
  redis: { type: 'string', value: 'URL', help: 'the Redis to use instead of REDIS_URL (same forms)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const commandName = (c: CommandSpec) => `conveyor ${c.path.join(' ')}`;

/** The command named by the leading words of argv (longest match), and the words after it. */
export function findCommand(commands: readonly CommandSpec[], argv: readonly string[]): { command: CommandSpec; rest: string[] } | undefined {
  const sorted = [...commands].sort((a, b) => b.path.length - a.path.length);
  for (const c of sorted) {
    if (c.path.every((w, i) => argv[i] === w)) return { command: c, rest: argv.slice(c.path.length) };
  }
  return undefined;
}

/** Parses a command's options and positionals; anything unknown or missing is a UsageError. */
export function parseCommandArgs(command: CommandSpec, rest: string[]): CommandInput & { global: { json: boolean; help: boolean; redis: string | undefined } } {
  const specs = { ...GLOBAL_OPTIONS, ...(command.options ?? {}) };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, s] of Object.entries(specs)) options[name] = s.short ? { type: s.type, short: s.short } : { type: s.type };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), commandName(command));
  }
  const values = parsed.values as OptionValues;
  const global = { json: values.json === true, help: values.help === true, redis: values.redis as string | undefined };
  if (!global.help) {
    const n = parsed.positionals.length;
    const min = command.minArgs ?? 0;
    const max = command.maxArgs ?? min;
    if (n < min) throw new UsageError(`missing ${command.args ?? 'arguments'}`, commandName(command));
    if (n > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`, commandName(command));
  }
  return { args: parsed.positionals, opts: values, global };
}

function optionLines(specs: Record<string, OptionSpec>): string[] {
  const left = Object.entries(specs).map(([name, s]) => `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  return Object.values(specs).map((s, i) => `  ${left[i]!.padEnd(width)}  ${s.help}`);
}

/** The --help text of one command. */
export function commandHelp(c: CommandSpec): string {
  const lines = [`${commandName(c)} - ${c.summary}`, '', `Usage: ${commandName(c)}${c.args ? ` ${c.args}` : ''}${c.options ? ' [options]' : ''}`];
  if (c.details) lines.push('', c.details.trim());
  if (c.options && Object.keys(c.options).length > 0) lines.push('', 'Options:', ...optionLines(c.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  lines.push('', 'Exit status: 0 ok, 1 operational failure, 2 usage error, 3 not found.');
  return lines.join('\n');
}

/** The help of a group of commands (`conveyor dead --help`), or of all of them. */
export function groupHelp(commands: readonly CommandSpec[], prefix: string[], intro?: string): string {
  const inGroup = commands.filter((c) => prefix.every((w, i) => c.path[i] === w));
  const left = inGroup.map((c) => `${c.path.join(' ')}${c.args ? ` ${c.args}` : ''}`);
  const width = Math.min(48, Math.max(...left.map((l) => l.length)));
  const rows = inGroup.map((c, i) => `  ${left[i]!.padEnd(width)}  ${c.summary}`);
  const name = ['conveyor', ...prefix].join(' ');
  return [
    ...(intro ? [intro, ''] : []),
    `Usage: ${name} ${prefix.length ? 'SUBCOMMAND' : 'COMMAND'} [arguments] [options]`,
    '',
    'Commands:',
    ...rows,
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Run '${name} ${prefix.length ? 'SUBCOMMAND' : 'COMMAND'} --help' for the options of one command.`,
  ].join('\n');
}

/** The value of a --name option given as a whole number (a UsageError otherwise). */
export function intOption(opts: OptionValues, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = opts[name];
  if (raw === undefined) return def;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) throw new UsageError(`--${name} expects a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}`);
  return n;
}

/** The value of a --name option given as JSON (a UsageError naming the option otherwise). */
export function jsonOption(opts: OptionValues, name: string): unknown {
  const raw = opts[name];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(String(raw));
  } catch (err) {
    throw new UsageError(`--${name} is not valid JSON: ${(err as Error).message}`);
  }
}

export const str = (opts: OptionValues, name: string): string | undefined => (typeof opts[name] === 'string' ? (opts[name] as string) : undefined);
