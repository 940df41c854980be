/**
 * What a worker process knows of the supervisor that forked it
 * (`conveyor worker --processes N`, worker/supervisor.ts): its id, its slot
 * and the fleet's restarts. The supervisor sets it at fork (env) and updates
 * it over IPC; the heartbeat reports it so the fleet view can show the
 * children under their host and supervisor.
 */

/** Why a supervisor replaced one of its worker processes. */
export type RestartCause = 'crash' | 'memory' | 'rolling';
export const RESTART_CAUSES: readonly RestartCause[] = ['crash', 'memory', 'rolling'];

export interface SupervisorInfo {
  /** host:pid of the supervisor process. */
  id: string;
  pid: number;
  /** This child's slot, 1..processes. */
  slot: number;
  processes: number;
  /** Restarts of every slot since the supervisor started, by cause. */
  restarts: Record<RestartCause, number>;
  /** The latest restart of any slot. */
  lastRestart?: { slot: number; cause: RestartCause; at: number; detail: string };
}

/** The env variable that carries the first SupervisorInfo to a forked child. */
export const SUPERVISOR_ENV = 'CONVEYOR_SUPERVISOR';

let current: SupervisorInfo | undefined = fromEnv(process.env[SUPERVISOR_ENV]);

function fromEnv(raw: string | undefined): SupervisorInfo | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as SupervisorInfo;
    return typeof v.id === 'string' && typeof v.slot === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** This process's supervisor, if it was forked by one. */
export function supervisorInfo(): SupervisorInfo | undefined {
  return current;
}

export function setSupervisorInfo(info: SupervisorInfo): void {
  current = info;
}
