/**
 * Last-resort cleanup for tests: every redis-server a test spawns and every
 * temp dir it makes is registered here, and killed / removed when the test
 * process exits — also when a test fails, throws, or the runner sends SIGTERM
 * after a timeout. stop() in the tests stays the normal path; this only makes
 * sure a failing test never leaves a redis-server (or a SIGSTOPped one) behind.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let installed = false;

function reapAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL'); // works on a stopped process too
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', reapAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      reapAll();
      // When we are the only listener, our handler replaced the default action
      // (die): restore it and re-raise so the process still ends by the signal.
      if (process.listenerCount(sig) === 1) {
        process.off(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** Kills this child (SIGKILL) if it is still running when the test process exits. */
export function reapOnExit(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Removes this dir when the test process exits, unless forgetDir() was called. */
export function removeOnExit(dir: string): void {
  install();
  dirs.add(dir);
}

export function forgetDir(dir: string): void {
  dirs.delete(dir);
}
