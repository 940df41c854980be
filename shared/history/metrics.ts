/** The archiver's gauges on a process's registry (the server's /metrics), read from its status at each scrape. */
import { Gauge, type Registry } from 'prom-client';
import type { HistoryArchiver } from './archiver.ts';

export function registerHistoryGauges(registry: Registry, archiver: HistoryArchiver): void {
  const registers = [registry];
  new Gauge({
    name: 'conveyor_history_up',
    help: '1 while the history archiver reaches its database (archiving or standing by), 0 while the database is down.',
    registers,
    collect() {
      this.set(archiver.status.state === 'database-down' || archiver.status.state === 'connecting' ? 0 : 1);
    },
  });
  new Gauge({
    name: 'conveyor_history_leader',
    help: '1 when this process is the archiver that writes (one at a time), else 0.',
    registers,
    collect() {
      this.set(archiver.status.state === 'archiving' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'conveyor_history_lag_seconds',
    help: 'How far the archived history is behind the newest event in Redis (max over queue streams).',
    registers,
    collect() {
      this.set(archiver.status.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'conveyor_history_gaps_found',
    help: 'Gaps found since the process started: events Redis trimmed before the archiver read them (GET /v1/history gaps, the gaps table).',
    registers,
    collect() {
      this.set(archiver.status.gaps);
    },
  });
  new Gauge({
    name: 'conveyor_history_events_archived',
    help: 'Events this process wrote to the history since it started.',
    registers,
    collect() {
      this.set(archiver.status.eventsStored);
    },
  });
}
