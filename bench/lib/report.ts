/**
 * The benchmark's result: rows of figures for Conveyor beside a baseline
 * measured in the same run (plain BullMQ, or Conveyor's own library path for
 * the HTTP and durability figures), the machine, the load, and checks that a
 * result file is well formed (the quick-run test uses them).
 */
import { median, round, summarize, type Summary } from './stats.ts';

export type Better = 'higher' | 'lower';

/** ratio-min: Conveyor / baseline must be at least value; max: Conveyor's median must be at most value. */
export interface Target {
  kind: 'ratio-min' | 'max';
  value: number;
}

export interface Row {
  group: string;
  /** Unique within a report, e.g. "enqueue.library-single". */
  id: string;
  label: string;
  unit: string;
  better: Better;
  conveyor: Summary;
  baseline?: Summary & { label: string };
  /** Median of the per-run ratios Conveyor / baseline (both sides of a run share one fresh Redis). */
  ratio?: number;
  /** Per-run ratios. */
  ratios?: number[];
  target?: Target;
  met?: boolean;
  note?: string;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  redis: string;
  os: string;
  memGb: number;
}

export interface Report {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  options: { quick: boolean; runs: number; only: string[] };
  machine: Machine;
  /** /proc/loadavg (1, 5, 15 min) before and after; quiet means below 0.5 before. */
  load: { before: number[]; after: number[]; quiet: boolean };
  rows: Row[];
  notes: string[];
}

export interface RowInput {
  group: string;
  id: string;
  label: string;
  unit: string;
  better?: Better;
  conveyor: number[];
  baseline?: { label: string; samples: number[] };
  target?: Target;
  note?: string;
  digits?: number;
}

export function makeRow(r: RowInput): Row {
  const digits = r.digits ?? (r.unit === 'ms' ? 2 : 0);
  const fix = (s: Summary): Summary => ({
    median: round(s.median, digits),
    min: round(s.min, digits),
    max: round(s.max, digits),
    spreadPct: round(s.spreadPct, 1),
    samples: s.samples.map((x) => round(x, digits)),
  });
  const row: Row = { group: r.group, id: r.id, label: r.label, unit: r.unit, better: r.better ?? 'higher', conveyor: fix(summarize(r.conveyor)) };
  if (r.baseline) {
    row.baseline = { label: r.baseline.label, ...fix(summarize(r.baseline.samples)) };
    const n = Math.min(r.conveyor.length, r.baseline.samples.length);
    const ratios = Array.from({ length: n }, (_, i) => r.conveyor[i]! / r.baseline!.samples[i]!);
    row.ratios = ratios.map((x) => round(x, 3));
    row.ratio = round(median(ratios), 3);
  }
  if (r.target) {
    row.target = r.target;
    row.met = r.target.kind === 'ratio-min' ? (row.ratio ?? 0) >= r.target.value : row.conveyor.median <= r.target.value;
  }
  if (r.note) row.note = r.note;
  return row;
}

function fmt(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '—';
  if (unit === 'ms') return x.toFixed(2);
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(1);
}

function targetText(t: Target | undefined, unit: string): string {
  if (!t) return '';
  return t.kind === 'ratio-min' ? `≥ ${t.value}×` : `≤ ${t.value} ${unit}`;
}

/** The results as a Markdown table (printed, and pasted into docs/benchmarks.md). */
export function toTable(rows: readonly Row[]): string {
  const head = '| figure | unit | Conveyor | baseline | ratio | target | spread C / B |';
  const sep = '| --- | --- | ---: | --- | ---: | --- | --- |';
  const lines = rows.map((r) => {
    const base = r.baseline ? `${fmt(r.baseline.median, r.unit)} (${r.baseline.label})` : '';
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`;
    const target = r.target ? `${targetText(r.target, r.unit)} ${r.met ? '✓' : '✗'}` : '';
    const spread = `±${(r.conveyor.spreadPct / 2).toFixed(0)}%${r.baseline ? ` / ±${(r.baseline.spreadPct / 2).toFixed(0)}%` : ''}`;
    return `| ${r.label} | ${r.unit} | ${fmt(r.conveyor.median, r.unit)} | ${base} | ${ratio} | ${target} | ${spread} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/** Problems with a result file (empty when it is well formed). */
export function checkReport(r: unknown, expectedIds: readonly string[] = []): string[] {
  const problems: string[] = [];
  const rep = r as Partial<Report>;
  if (!rep || typeof rep !== 'object') return ['not an object'];
  if (rep.version !== 1) problems.push('version is not 1');
  for (const k of ['startedAt', 'finishedAt'] as const) if (typeof rep[k] !== 'string' || Number.isNaN(Date.parse(rep[k]!))) problems.push(`${k} is not a date`);
  if (!rep.machine || !(rep.machine.nproc > 0) || !rep.machine.node || !rep.machine.redis) problems.push('machine is incomplete');
  if (!rep.load || !Array.isArray(rep.load.before) || rep.load.before.length !== 3) problems.push('load.before is missing');
  if (!Array.isArray(rep.rows) || rep.rows.length === 0) return [...problems, 'no rows'];
  const ids = new Set<string>();
  for (const row of rep.rows) {
    if (ids.has(row.id)) problems.push(`duplicate row ${row.id}`);
    ids.add(row.id);
    const finite = (s: Summary | undefined) => s && Number.isFinite(s.median) && s.median >= 0 && s.samples.length > 0 && s.samples.every(Number.isFinite);
    if (!finite(row.conveyor)) problems.push(`${row.id}: conveyor figure is not a finite number`);
    if (row.baseline) {
      if (!finite(row.baseline)) problems.push(`${row.id}: baseline figure is not a finite number`);
      if (!(typeof row.ratio === 'number' && Number.isFinite(row.ratio) && row.ratio > 0)) problems.push(`${row.id}: ratio is missing`);
    }
    if (row.target && typeof row.met !== 'boolean') problems.push(`${row.id}: target without a verdict`);
  }
  for (const id of expectedIds) if (!ids.has(id)) problems.push(`row ${id} is missing`);
  return problems;
}
