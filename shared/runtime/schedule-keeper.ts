/**
 * The schedules part of a worker: applies the SCHEDULES file at start
 * (config wins) and repairs schedulers that stopped producing, every minute.
 * It works through the worker's Conveyor core (its fail-fast producer
 * connection, never the worker's blocking one, so a slow schedule write does
 * not wait behind BullMQ's blocking commands).
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { Schedules } from '../queue/schedules.ts';
import { applyScheduleFile } from '../queue/schedule-file.ts';
import { startScheduleRepair } from '../queue/schedule-repair.ts';
import type { Service } from './service.ts';

const REPAIR_INTERVAL_MS = 60_000;

export class ScheduleKeeper implements Service {
  private stopRepair: (() => void) | undefined;
  private readonly schedules: Schedules;
  private readonly config: Readonly<Config>;
  private readonly log: Logger;

  constructor(schedules: Schedules, config: Readonly<Config>, logger: Logger) {
    this.schedules = schedules;
    this.config = config;
    this.log = logger;
  }

  async start(): Promise<void> {
    const { config } = this;
    if (config.schedulesFile) {
      const r = await applyScheduleFile(this.schedules, config.schedulesFile, { maxPayloadBytes: config.maxPayloadBytes, logger: this.log });
      this.log.info({ applied: r.applied, removed: r.removed }, 'SCHEDULES file applied');
    }
    this.stopRepair = startScheduleRepair(this.schedules, this.log, REPAIR_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.stopRepair?.();
    this.stopRepair = undefined;
  }
}
