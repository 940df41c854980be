/**
 * Label values with a bound. Prometheus keeps one series per label set, so a
 * label must never hold a job id, a payload or anything a producer can vary
 * without limit. Job names are bounded by the handlers a worker has: a name
 * the worker does not know (a typo, a HANDLER_NOT_FOUND job) is "other".
 */

export const OTHER = 'other';

/** The longest label value kept (queue names are at most 64, job names 128). */
const MAX_LABEL = 128;

export class JobNameLabels {
  private readonly known: ReadonlySet<string> | undefined;
  private readonly seen = new Set<string>();
  private readonly cap: number;

  /**
   * known: the handler names (anything else is "other"). Without it, the
   * first `cap` distinct names are kept and later ones are "other".
   */
  constructor(known?: Iterable<string>, cap = 100) {
    this.known = known ? new Set(known) : undefined;
    this.cap = cap;
  }

  label(name: unknown): string {
    if (typeof name !== 'string' || name === '' || name.length > MAX_LABEL) return OTHER;
    if (this.known) return this.known.has(name) ? name : OTHER;
    if (this.seen.has(name)) return name;
    if (this.seen.size >= this.cap) return OTHER;
    this.seen.add(name);
    return name;
  }
}
