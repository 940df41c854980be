/**
 * Where the CLI writes: results on stdout (a table or text for people, one
 * JSON document with --json), progress and warnings on stderr so that
 * `conveyor … --json | jq` sees only the result.
 */
export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** Non-TTY progress: at most one line per this many ms (plus the last). */
const PROGRESS_EVERY_MS = 1000;

export class Output {
  readonly json: boolean;
  private readonly streams: Streams;
  private lastProgressAt = 0;
  private progressShown = false;

  constructor(json: boolean, streams: Streams = process) {
    this.json = json;
    this.streams = streams;
  }

  /** The command's result: `value` as JSON with --json, else the human text. */
  result(value: unknown, human: string | (() => string)): void {
    this.endProgress();
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else {
      const text = typeof human === 'string' ? human : human();
      if (text !== '') this.streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** A progress line on stderr: rewritten in place on a terminal, throttled otherwise. */
  progress(text: string, { final = false } = {}): void {
    const err = this.streams.stderr;
    if (err.isTTY) {
      err.write(`\r\x1b[2K${text}`);
      this.progressShown = true;
      if (final) this.endProgress();
      return;
    }
    const now = Date.now();
    if (!final && now - this.lastProgressAt < PROGRESS_EVERY_MS) return;
    this.lastProgressAt = now;
    err.write(`${text}\n`);
  }

  /** A note for people, on stderr (never part of the result). */
  note(text: string): void {
    this.endProgress();
    this.streams.stderr.write(`${text}\n`);
  }

  private endProgress(): void {
    if (this.progressShown) {
      this.streams.stderr.write('\n');
      this.progressShown = false;
    }
  }
}

/** Aligned columns; the header is underlined by nothing, just upper case. */
export function table(header: string[], rows: (string | number | boolean | null | undefined)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

/** "3 jobs", "1 job". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A one-line preview of a value for tables. */
export function preview(value: unknown, max = 60): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
