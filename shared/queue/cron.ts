/**
 * Cron expressions and time zones: validation before anything is stored, and
 * the run times a schedule will have. BullMQ computes its own next run with
 * the same parser (cron-parser 5) from the same {pattern, tz}, so the times
 * shown here are the times the jobs get.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { ConveyorError } from '../errors.ts';

export const DEFAULT_TZ = 'UTC';
const MAX_CRON_LENGTH = 256;

function invalid(field: 'cron' | 'tz', why: string): ConveyorError {
  return new ConveyorError('INVALID_CRON', `${field}: ${why}`, { field });
}

/** Throws INVALID_CRON naming `tz` unless the IANA time zone is known to this runtime. */
export function assertTimeZone(tz: unknown): asserts tz is string {
  if (typeof tz !== 'string' || tz.trim() === '' || tz.length > 64) {
    throw invalid('tz', `expected an IANA time zone name such as "Europe/Paris" or "UTC", not ${JSON.stringify(tz)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw invalid('tz', `unknown timezone ${JSON.stringify(tz)} (use an IANA name such as "America/New_York" or "UTC")`);
  }
}

const FIELDS = [
  { name: 'second', values: 60 },
  { name: 'minute', values: 60 },
  { name: 'hour', values: 24 },
  { name: 'day-of-month', values: 31 },
  { name: 'month', values: 12 },
  { name: 'day-of-week', values: 7 },
];

/**
 * cron-parser takes "*\/61" in the minute field as "minute 0" without a word;
 * a step larger than its field can only be a mistake ("every 61 minutes" is
 * not something cron can say), so it is refused.
 */
function checkSteps(expr: string, withSeconds: boolean): void {
  const fields = FIELDS.slice(withSeconds ? 0 : 1);
  expr.split(/\s+/).forEach((field, i) => {
    const f = fields[i];
    for (const m of field.matchAll(/\/(\d+)/g)) {
      if (f && Number(m[1]) > f.values) {
        throw invalid('cron', `"${expr}": a step of ${m[1]} in the ${f.name} field is larger than the field (${f.values} values); cron cannot repeat that way`);
      }
    }
  });
}

/**
 * Parses a 5-field (minute precision) or 6-field (leading seconds field)
 * expression, or an alias such as "@daily". cron-parser alone accepts fewer
 * fields (filling in "*") and "H" (a random value per parse, which would make
 * our times disagree with BullMQ's); both are refused here.
 */
function parse(cron: unknown, tz: string, currentDate: Date): CronExpression {
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw invalid('cron', `expected a cron expression such as "*/5 * * * *", not ${JSON.stringify(cron)}`);
  }
  if (cron.length > MAX_CRON_LENGTH) throw invalid('cron', `the expression is longer than ${MAX_CRON_LENGTH} characters`);
  const expr = cron.trim();
  if (!expr.startsWith('@')) {
    const fields = expr.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      throw invalid('cron', `"${expr}" has ${fields} field${fields === 1 ? '' : 's'}; use 5 (minute hour day-of-month month day-of-week) or 6 (a seconds field first)`);
    }
    // "H" alone, not inside a name such as THU
    if (/(^|[^a-z])h([^a-z]|$)/i.test(expr)) {
      throw invalid('cron', `"${expr}": the "H" (hashed) syntax is not supported; write the value itself`);
    }
    checkSteps(expr, fields === 6);
  }
  try {
    return CronExpressionParser.parse(expr, { tz, currentDate });
  } catch (err) {
    throw invalid('cron', `"${expr}" is not a valid cron expression: ${(err as Error).message}`);
  }
}

/** The next `count` run times after `from`, as Dates. Throws INVALID_CRON for a bad expression or zone. */
export function nextRunDates(cron: string, tz: string = DEFAULT_TZ, count = 5, from: Date = new Date()): Date[] {
  assertTimeZone(tz);
  const expr = parse(cron, tz, from);
  try {
    return expr.take(count).map((d) => d.toDate());
  } catch (err) {
    // e.g. "0 0 30 2 *" parses on some versions but never fires
    throw invalid('cron', `"${cron.trim()}" never runs: ${(err as Error).message}`);
  }
}

/** The next `count` run times after `from`, as ISO 8601 strings in UTC. */
export function nextRuns(cron: string, tz: string = DEFAULT_TZ, count = 5, from: Date = new Date()): string[] {
  return nextRunDates(cron, tz, count, from).map((d) => d.toISOString());
}

/** The last run time strictly before `before` (undefined when there is none). */
export function previousRun(cron: string, tz: string, before: Date): Date | undefined {
  try {
    return parse(cron, tz, before).prev().toDate();
  } catch {
    return undefined;
  }
}

/**
 * Validates an expression and a zone together, the way a schedule will use
 * them: it must parse and must have upcoming runs. Returns the normalised
 * expression (trimmed).
 */
export function validateCron(cron: unknown, tz: unknown = DEFAULT_TZ): { cron: string; tz: string } {
  assertTimeZone(tz);
  nextRunDates(cron as string, tz, 1); // parse() checks the type itself
  return { cron: (cron as string).trim(), tz };
}
