/**
 * How `npm start` shows its children's output: one line per event, prefixed
 * with the process name. Pretty by default (time, level, message, fields);
 * with --json every line stays a JSON object (pino's own lines unchanged, so
 * `npm start -- --json | jq` works).
 */
import type { Readable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'proc', 'name', 'msg', 'hostname', 'v']);
const NAME_COLORS = [36, 35, 33, 32, 34];
const LEVEL_COLORS: Record<string, number> = { WARN: 33, ERROR: 31, FATAL: 31, DEBUG: 90, TRACE: 90 };

export interface LineFormat {
  json: boolean;
  color: boolean;
  /** Width of the name column (pretty mode). */
  width: number;
}

function paint(on: boolean, code: number, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s="]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

function clock(time: unknown): string {
  const d = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date();
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(11, 23);
}

/** One output line for one input line of process `name` (index picks its color). */
export function formatLine(name: string, index: number, raw: string, fmt: LineFormat): string {
  let j: Record<string, unknown> | undefined;
  if (raw.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) j = parsed as Record<string, unknown>;
    } catch {
      j = undefined;
    }
  }
  if (fmt.json) return j ? raw : JSON.stringify({ level: 30, time: new Date().toISOString(), proc: name, msg: raw });
  const prefix = paint(fmt.color, NAME_COLORS[index % NAME_COLORS.length]!, name.padEnd(fmt.width));
  if (!j) return `${prefix} │ ${raw}`;
  const level = LEVELS[Number(j.level)] ?? String(j.level ?? 'INFO');
  const fields = Object.entries(j)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${paint(fmt.color, 90, `${k}=`)}${value(v)}`)
    .join(' ');
  const lvl = paint(fmt.color && level in LEVEL_COLORS, LEVEL_COLORS[level] ?? 0, level.padEnd(5));
  return `${prefix} │ ${paint(fmt.color, 90, clock(j.time))} ${lvl} ${String(j.msg ?? '')}${fields ? ` ${fields}` : ''}`;
}

/** Calls onLine for every complete line of a stream (a trailing partial line at the end too). */
export function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl).replace(/\r$/, '');
      partial = partial.slice(nl + 1);
      if (line !== '') onLine(line);
    }
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}
