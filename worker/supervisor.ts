/**
 * `conveyor worker --processes N` (WORKER_PROCESSES): one supervisor forks N
 * worker processes on this host and keeps them running, the way Sidekiq
 * Enterprise's swarm does.
 *
 *   - a child that crashes is forked again after a backoff (0.5 s, doubling
 *     to 30 s; reset once a child has stayed up a minute); a slot that
 *     crashes CRASH_LIMIT times within CRASH_WINDOW_MS is a crash loop: the
 *     supervisor stops the others and exits 1, naming the slot and the exit;
 *   - a child whose RSS passes WORKER_MAX_RSS_MB is replaced: a new child is
 *     forked and, once it is ready, the old one gets SIGTERM and finishes its
 *     running jobs (nothing handed back, nothing counted as failed);
 *   - SIGHUP: a rolling restart, one slot at a time, the same way (deploy new
 *     code on disk, then `kill -HUP`);
 *   - SIGTERM / SIGINT: every child stops gracefully within SHUTDOWN_GRACE_MS
 *     (SIGKILL past grace + STOP_MARGIN_MS), then the supervisor exits 0;
 *   - a fleet "stop" of one child retires its slot; when every slot is
 *     retired the supervisor exits 0;
 *   - METRICS_PORT is the supervisor's: /metrics sums its children's metrics
 *     (queue-level gauges are taken once) and adds
 *     conveyor_worker_restarts_total{cause}; /healthz and /readyz answer for
 *     the group.
 *
 * Children run in their own process group (a terminal's Ctrl-C or hangup
 * reaches only the supervisor, which relays the stop) with an IPC channel
 * (worker/supervised-child.ts); they stop by themselves if it closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import type { Logger } from '../shared/log.ts';
import type { Config } from '../shared/config/config.ts';
import { RESTART_CAUSES, SUPERVISOR_ENV, type RestartCause, type SupervisorInfo } from '../shared/runtime/supervised.ts';
import type { EndpointHealth } from '../shared/runtime/metrics-endpoint.ts';
import type { Service } from '../shared/runtime/service.ts';
import type { ChildMessage, SupervisorMessage } from './supervised-child.ts';

/** The CLI the children run: compiled, dist/cli/main.js; from the source tree (tests), through tsx. */
const CLI_MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli/main.ts' : '../cli/main.js', import.meta.url));
const LOADER: readonly string[] = CLI_MAIN.endsWith('.ts') ? ['--import', 'tsx'] : [];

export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 60_000;
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
/** A child up this long has recovered: its slot's backoff starts again from the base. */
export const BACKOFF_RESET_MS = 60_000;
/** A child not ready this long after its fork is killed and counted as a crash. */
export const CHILD_START_TIMEOUT_MS = 120_000;

export interface WorkerSupervisorOptions {
  config: Readonly<Config>;
  processes: number;
  logger: Logger;
  /** The arguments after `worker` that every child gets (`--jobs ./dist/jobs.js`). */
  childArgs: readonly string[];
  /** The children's environment (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** How long a child may take to stop before SIGKILL: SHUTDOWN_GRACE_MS + this. */
  stopMarginMs: number;
  crashLimit?: number;
  crashWindowMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

interface Child {
  proc: ChildProcess;
  slot: Slot;
  forkedAt: number;
  readyAt: number | undefined;
  workerId: string | undefined;
  rss: number;
  health: EndpointHealth | undefined;
  /** Asked to stop (a restart, the supervisor's stop, a fleet stop): its exit is not a crash. */
  stopping: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ready: Promise<boolean>;
}

interface Slot {
  index: number;
  child: Child | undefined;
  /** A replacement is under way (memory, rolling): no second one. */
  replacing: boolean;
  crashes: number[];
  /** Consecutive crashes: the backoff's exponent. */
  streak: number;
  timer: NodeJS.Timeout | undefined;
  /** A fleet "stop" retired it: not refilled. */
  retired: boolean;
}

export interface SupervisorEvents {
  /** A slot's child was replaced or re-forked. */
  restart: [slot: number, cause: RestartCause, detail: string];
  /** The supervisor gave up (crash loop, a child that cannot start): exit with this code. */
  fatal: [code: number, message: string];
  /** Every slot was retired by a fleet "stop". */
  retired: [];
}

function exitText(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
}

export class WorkerSupervisor extends EventEmitter<SupervisorEvents> implements Service {
  readonly id: string;
  private readonly opts: WorkerSupervisorOptions;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private readonly restarts: Record<RestartCause, number> = { crash: 0, memory: 0, rolling: 0 };
  private lastRestart: SupervisorInfo['lastRestart'];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private rolling: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private reqId = 0;
  private readonly now: () => number;
  private readonly maxRssBytes: number | undefined;

  constructor(opts: WorkerSupervisorOptions) {
    super();
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.id = `${hostname()}:${process.pid}`;
    this.log = opts.logger;
    this.maxRssBytes = opts.config.workerMaxRssMb === undefined ? undefined : opts.config.workerMaxRssMb * 1024 * 1024;
    for (let i = 1; i <= opts.processes; i++) this.slots.push({ index: i, child: undefined, replacing: false, crashes: [], streak: 0, timer: undefined, retired: false });
  }

  get lifecycle(): string {
    return this.state;
  }

  /** Restarts so far, by cause. */
  get restartCounts(): Readonly<Record<RestartCause, number>> {
    return this.restarts;
  }

  /** The pids of the live children, by slot (tests, the fleet view). */
  pids(): { slot: number; pid: number; workerId: string | undefined }[] {
    const out: { slot: number; pid: number; workerId: string | undefined }[] = [];
    for (const s of this.slots) if (s.child?.proc.pid && !s.child.exit) out.push({ slot: s.index, pid: s.child.proc.pid, workerId: s.child.workerId });
    return out;
  }

  private startWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;

  /**
   * Forks every child; resolves once each slot has a ready child (a child
   * that crashes while starting is forked again, as later). Rejects on a
   * fatal (a crash loop, a child that exits 2: bad configuration).
   */
  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`WorkerSupervisor.start() called in state ${this.state}`));
    this.state = 'starting';
    return new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
      for (const s of this.slots) s.child = this.fork(s);
    });
  }

  private checkStarted(): void {
    if (this.state !== 'starting' || !this.slots.every((s) => s.retired || s.child?.readyAt !== undefined)) return;
    this.state = 'running';
    this.log.info({ supervisor: this.id, processes: this.slots.length, pids: this.pids().map((p) => p.pid), maxRssMb: this.opts.config.workerMaxRssMb }, 'supervisor started');
    this.startWaiter?.resolve();
    this.startWaiter = undefined;
  }

  private fatal(code: number, message: string): void {
    this.log.fatal({ code }, message);
    this.emit('fatal', code, message);
    this.startWaiter?.reject(Object.assign(new Error(message), { exitCode: code }));
    this.startWaiter = undefined;
  }

  private info(slot: number): SupervisorInfo {
    return { id: this.id, pid: process.pid, slot, processes: this.slots.length, restarts: { ...this.restarts }, ...(this.lastRestart ? { lastRestart: this.lastRestart } : {}) };
  }

  private fork(slot: Slot): Child {
    const env: NodeJS.ProcessEnv = { ...(this.opts.env ?? process.env), [SUPERVISOR_ENV]: JSON.stringify(this.info(slot.index)) };
    // The supervisor owns these: a child forking children, or binding the supervisor's port, would be wrong.
    delete env.WORKER_PROCESSES;
    delete env.WORKER_MAX_RSS_MB;
    delete env.METRICS_PORT;
    const proc = fork(CLI_MAIN, ['worker', ...this.opts.childArgs], {
      env,
      execArgv: [...LOADER],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      serialization: 'advanced',
    });
    let markReady!: (ok: boolean) => void;
    const child: Child = {
      proc,
      slot,
      forkedAt: this.now(),
      readyAt: undefined,
      workerId: undefined,
      rss: 0,
      health: undefined,
      stopping: false,
      exit: undefined,
      exited: undefined as never,
      ready: new Promise<boolean>((r) => (markReady = r)),
    };
    const startTimer = setTimeout(() => {
      if (child.readyAt || child.exit) return;
      this.log.error({ slot: slot.index, pid: proc.pid, timeoutMs: CHILD_START_TIMEOUT_MS }, 'worker process not ready in time; killing it');
      proc.kill('SIGKILL');
    }, CHILD_START_TIMEOUT_MS);
    startTimer.unref();
    child.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        clearTimeout(startTimer);
        child.exit = { code, signal };
        markReady(false);
        resolve(child.exit);
        this.onExit(child);
      });
      proc.on('error', (err) => this.log.error({ slot: slot.index, err: err.message }, 'worker process error'));
    });
    proc.on('message', (raw) => this.onMessage(child, raw as ChildMessage, markReady));
    this.known.add(child);
    return child;
  }

  private onMessage(child: Child, m: ChildMessage, markReady: (ok: boolean) => void): void {
    if (m.t === 'ready') {
      child.readyAt = this.now();
      child.workerId = m.workerId;
      markReady(true);
      this.checkStarted();
    } else if (m.t === 'stats') {
      child.rss = m.rss;
      child.health = m.health;
      if (this.maxRssBytes !== undefined && m.rss > this.maxRssBytes && child.slot.child === child && !child.stopping) {
        const mb = Math.round(m.rss / 1024 / 1024);
        void this.replace(child.slot, 'memory', `RSS ${mb} MB over WORKER_MAX_RSS_MB=${this.opts.config.workerMaxRssMb}`);
      }
    } else if (m.t === 'metrics') {
      this.pendingMetrics.get(m.reqId)?.(m.metrics);
    } else if (m.t === 'stop-requested') {
      // A fleet "stop" addressed this child: it exits; its slot stays empty.
      child.stopping = true;
      if (child.slot.child === child) child.slot.retired = true;
      this.log.info({ slot: child.slot.index, pid: child.proc.pid }, 'worker process stopping on a fleet "stop"; its slot is not refilled');
    }
  }

  private onExit(child: Child): void {
    const slot = child.slot;
    const e = child.exit!;
    this.log[child.stopping ? 'info' : 'error']({ slot: slot.index, pid: child.proc.pid, code: e.code, signal: e.signal, expected: child.stopping }, 'worker process exited');
    if (slot.child !== child) return; // a replaced child leaving
    if (child.stopping || this.state === 'stopping' || this.state === 'stopped') {
      if (slot.retired && this.state === 'running' && this.slots.every((s) => s.retired)) this.emit('retired');
      return;
    }
    // A crash.
    const now = this.now();
    if (!child.readyAt && e.code === 2) {
      // A bad configuration or jobs module: forking again cannot help.
      this.fatal(2, `worker process ${slot.index} could not start (exit code 2); its error is above`);
      return;
    }
    if (child.readyAt !== undefined && now - child.readyAt >= BACKOFF_RESET_MS) slot.streak = 0;
    slot.streak++;
    const windowMs = this.opts.crashWindowMs ?? CRASH_WINDOW_MS;
    slot.crashes = slot.crashes.filter((t) => now - t < windowMs);
    slot.crashes.push(now);
    const limit = this.opts.crashLimit ?? CRASH_LIMIT;
    if (slot.crashes.length >= limit) {
      this.fatal(1, `crash loop: worker process ${slot.index} crashed ${slot.crashes.length} times within ${Math.round(windowMs / 1000)} s (last: ${exitText(e)})`);
      return;
    }
    const base = this.opts.backoffBaseMs ?? BACKOFF_BASE_MS;
    const delay = Math.min(this.opts.backoffMaxMs ?? BACKOFF_MAX_MS, base * 2 ** (slot.streak - 1));
    this.log.warn({ slot: slot.index, exit: exitText(e), restartInMs: delay, crashesInWindow: slot.crashes.length }, 'worker process crashed; forking it again after a backoff');
    slot.child = undefined;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.state !== 'running' && this.state !== 'starting') return;
      this.counted(slot.index, 'crash', exitText(e));
      slot.child = this.fork(slot);
    }, delay);
  }

  private counted(slot: number, cause: RestartCause, detail: string): void {
    this.restarts[cause]++;
    this.lastRestart = { slot, cause, at: this.now(), detail };
    this.emit('restart', slot, cause, detail);
    this.log.info({ slot, cause, detail, restarts: this.restarts }, `worker process ${slot} restarted (${cause})`);
    this.broadcast();
  }

  /** Every child's heartbeat carries the fleet's restart counts. */
  private broadcast(): void {
    for (const s of this.slots) {
      const c = s.child;
      if (c && !c.exit && c.proc.connected) c.proc.send({ t: 'supervisor', info: this.info(s.index) } satisfies SupervisorMessage, undefined, {}, () => {});
    }
  }

  /**
   * Replaces a slot's child: forks the new one, waits until it is ready, then
   * stops the old one gracefully (its running jobs finish). If the new one
   * cannot start, the old one keeps running.
   */
  private async replace(slot: Slot, cause: RestartCause, detail: string): Promise<void> {
    const old = slot.child;
    if (slot.replacing || !old || old.exit || this.state !== 'running') return;
    slot.replacing = true;
    try {
      this.log.info({ slot: slot.index, pid: old.proc.pid, cause, detail }, `replacing worker process ${slot.index} (${cause})`);
      const next = this.fork(slot);
      // Until it is ready, crashes of the new child are its own business (not the slot's).
      const ok = await next.ready;
      if (!ok || this.state !== 'running') {
        if (!next.exit) next.proc.kill('SIGTERM');
        this.log.error({ slot: slot.index, cause, exit: next.exit ? exitText(next.exit) : undefined }, 'the replacement worker process did not start; the old one keeps running');
        return;
      }
      slot.child = next;
      this.counted(slot.index, cause, detail);
      old.stopping = true;
      old.proc.kill('SIGTERM');
      await old.exited;
    } finally {
      slot.replacing = false;
    }
  }

  /** SIGHUP: replace every child, one slot at a time, each old one finishing its jobs. */
  rollingRestart(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (this.rolling) {
      this.log.info('a rolling restart is already under way');
      return this.rolling;
    }
    this.rolling = (async () => {
      this.log.info({ processes: this.slots.length }, 'rolling restart');
      for (const s of this.slots) {
        if (this.state !== 'running') break;
        if (s.retired || !s.child) continue;
        while (s.replacing) await new Promise((r) => setTimeout(r, 100));
        await this.replace(s, 'rolling', 'SIGHUP');
      }
      this.log.info({ restarts: this.restarts }, 'rolling restart done');
    })().finally(() => (this.rolling = undefined));
    return this.rolling;
  }

  /** Graceful: SIGTERM to every child, SIGKILL to those still running past grace + margin. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const prior = this.state;
      this.state = 'stopping';
      for (const s of this.slots) clearTimeout(s.timer);
      const live = this.allChildren().filter((c) => !c.exit);
      if (prior !== 'new') this.log.info({ children: live.length }, 'stopping worker processes');
      for (const c of live) {
        c.stopping = true;
        c.proc.kill('SIGTERM');
      }
      const deadlineMs = this.opts.config.shutdownGraceMs + this.opts.stopMarginMs;
      const deadline = setTimeout(() => {
        for (const c of live) {
          if (!c.exit) {
            this.log.warn({ slot: c.slot.index, pid: c.proc.pid, deadlineMs }, 'worker process did not stop in time; killing it');
            c.proc.kill('SIGKILL');
          }
        }
      }, deadlineMs);
      await Promise.all(live.map((c) => c.exited));
      clearTimeout(deadline);
      this.state = 'stopped';
    })();
    return this.stopping;
  }

  /** A second Ctrl-C: SIGKILL every child now. */
  kill(): void {
    for (const c of this.known) if (!c.exit) c.proc.kill('SIGKILL');
  }

  /** Every child forked, including a replacement starting and an old one finishing. */
  private readonly known = new Set<Child>();

  private allChildren(): Child[] {
    return [...this.known];
  }

  /** Did every child we asked to stop exit cleanly (0, or by the SIGTERM we sent)? Crashes were dealt with when they happened. */
  get cleanExit(): boolean {
    return [...this.known].every((c) => !c.stopping || !c.exit || c.exit.code === 0 || c.exit.signal === 'SIGTERM');
  }

  /**
   * For the supervisor's probes: live while it runs (a crashed child is being
   * forked again); ready when running and at least one child says it is ready.
   */
  health(): EndpointHealth {
    const children = this.slots.map((s) => ({ slot: s.index, pid: s.child?.proc.pid, ready: s.child?.health?.ready ?? false, rssBytes: s.child?.rss, retired: s.retired }));
    const live = this.state === 'running' || this.state === 'stopping' || this.state === 'starting';
    const ready = this.state === 'running' && children.some((c) => c.ready);
    return { live, ready, detail: { supervisor: this.id, state: this.state, children, restarts: this.restarts } };
  }

  private readonly pendingMetrics = new Map<number, (m: unknown[]) => void>();

  /** Each live child's metrics (prom-client's getMetricsAsJSON), asked over IPC; a child that does not answer in 2 s is left out. */
  async childMetrics(): Promise<unknown[][]> {
    const live = this.slots.map((s) => s.child).filter((c): c is Child => Boolean(c && !c.exit && c.readyAt && c.proc.connected));
    return (
      await Promise.all(
        live.map(
          (c) =>
            new Promise<unknown[] | undefined>((resolve) => {
              const id = ++this.reqId;
              const timer = setTimeout(() => {
                this.pendingMetrics.delete(id);
                resolve(undefined);
              }, 2000);
              this.pendingMetrics.set(id, (m) => {
                clearTimeout(timer);
                this.pendingMetrics.delete(id);
                resolve(m);
              });
              c.proc.send({ t: 'metrics', reqId: id } satisfies SupervisorMessage, undefined, {}, () => {});
            }),
        ),
      )
    ).filter((m): m is unknown[] => m !== undefined);
  }
}

export { RESTART_CAUSES };
