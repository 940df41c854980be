/** What the benchmark ran on, how busy the machine was, and CPU time used by processes (for CPU-normalised figures). */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import type { Machine } from './report.ts';

export function machineInfo(): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  let redis = 'unknown';
  try {
    redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redis;
  } catch {
    // reported as unknown
  }
  return {
    nproc: cpus().length,
    cpuModel,
    node: process.version,
    redis,
    os: `${osType()} ${release()}`,
    memGb: Math.round(totalmem() / 2 ** 30),
  };
}

/** 1, 5 and 15 minute load averages. */
export function loadAvg(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [0, 0, 0];
  }
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far; 0 when it is gone or this is not Linux. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** CPU seconds the given processes use between start() and stop(). */
export function cpuMeter(pids: readonly (number | undefined)[]): { stop(): number } {
  const start = pids.map(cpuSeconds);
  return {
    stop: () => pids.reduce<number>((sum, pid, i) => sum + Math.max(0, cpuSeconds(pid) - start[i]!), 0),
  };
}

/**
 * CPU seconds every thread of a process has used so far, from
 * /proc/PID/task/TID/schedstat (nanoseconds: fine enough for an idle
 * process, where the 10 ms ticks of /proc/PID/stat often read 0); 0 when it
 * is gone or this is not Linux.
 */
export function cpuSecondsFine(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that just ended
      }
    }
    return ns / 1e9;
  } catch {
    return 0;
  }
}
