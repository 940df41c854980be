/**
 * What the CLI's exit status means, so scripts can branch on it:
 *   0  done
 *   1  operational failure: Redis unreachable or refused, a conflict, a bug
 *   2  usage: unknown command or option, bad argument, invalid input or config
 *   3  not found: the queue, job, dead letter, schedule or worker does not exist
 */
import { ConveyorError, isConveyorError } from '../shared/errors.ts';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A command line that cannot be run as typed (exit 2). `command` names the help to point at. */
export class UsageError extends Error {
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** Something the CLI looked for and did not find, when no shared/ error code says so already (exit 3). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The exit status for an error thrown by a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof NotFoundError) return EXIT.NOT_FOUND;
  if (isConveyorError(err)) {
    if (err.status === 404) return EXIT.NOT_FOUND;
    // Input the user typed (names, JSON, cron) or the environment they set.
    if ([400, 413, 415, 422].includes(err.status) || err.code === 'CONFIG_INVALID' || err.code === 'REDIS_URL_INVALID') return EXIT.USAGE;
  }
  return EXIT.FAILURE;
}

/** The error's code for --json output: the shared/ code, or USAGE / NOT_FOUND / INTERNAL. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof ConveyorError) return err.code;
  if (err instanceof UsageError) return 'USAGE';
  if (err instanceof NotFoundError) return 'NOT_FOUND';
  return 'INTERNAL';
}
