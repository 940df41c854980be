/**
 * Schedule gauges, read on each scrape: when each schedule's next run is due
 * and whether its BullMQ scheduler is in line with its definition. A next run
 * in the past means the run was not started (no worker, or a broken
 * scheduler): the ScheduleMissedRun alert fires on it.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Schedules } from '../queue/schedules.ts';

interface ScheduleReading {
  id: string;
  queue: string;
  paused: boolean;
  /** The scheduler's next run (ms since the epoch); undefined when it has none. */
  next: number | undefined;
}

export async function readSchedules(schedules: Schedules): Promise<ScheduleReading[]> {
  const all = await schedules.list();
  return Promise.all(
    all.map(async (s) => {
      const sch = s.paused ? undefined : await schedules.scheduler(s.id, s.queue);
      return { id: s.id, queue: s.queue, paused: s.paused, next: typeof sch?.next === 'number' ? sch.next : undefined };
    }),
  );
}

export function registerScheduleGauges(registry: Registry, reading: () => Promise<ScheduleReading[] | undefined>): void {
  const registers = [registry];
  new Gauge({
    name: 'conveyor_schedule_next_run_timestamp_seconds',
    help: 'When the schedule\'s next run is due (Unix time); in the past = a run that has not started. Absent while paused.',
    labelNames: ['schedule', 'queue'],
    registers,
    aggregator: 'max',
    async collect() {
      const all = await reading();
      this.reset();
      for (const s of all ?? []) if (s.next !== undefined) this.set({ schedule: s.id, queue: s.queue }, s.next / 1000);
    },
  });
  new Gauge({
    name: 'conveyor_schedule_healthy',
    help: '1 when an active schedule has its BullMQ scheduler (or a paused one has none); 0 when it needs repair.',
    labelNames: ['schedule', 'queue'],
    registers,
    aggregator: 'min',
    async collect() {
      const all = await reading();
      this.reset();
      for (const s of all ?? []) this.set({ schedule: s.id, queue: s.queue }, s.paused || s.next !== undefined ? 1 : 0);
    },
  });
}
