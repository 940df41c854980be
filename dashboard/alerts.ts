/**
 * The overview's alert banners: conditions an operator should act on now,
 * computed from what the overview already read (no extra Redis work).
 */
import { duration, esc, num, plural } from './pages/format.ts';

export interface QueueHealth {
  name: string;
  paused: boolean;
  waiting: number;
  dead: number;
  /** Epoch ms since which the oldest waiting job is ready; undefined when none waits. */
  oldestSince: number | undefined;
  /** Live workers taking jobs from it. */
  consumers: number;
  /** Jobs dead-lettered in the recent window. */
  recentDead: number;
}

export interface Alert {
  tone: 'warn' | 'bad';
  /** HTML (values escaped). */
  html: string;
}

export interface AlertInput {
  queues: QueueHealth[];
  /** maxmemory-policy of each primary (undefined when unknown). */
  evictionPolicies: (string | undefined)[];
  waitingThresholdMs: number;
  /** The window recentDead covers (minutes). */
  deadWindowMin: number;
  now?: number;
  /** Where the dashboard is mounted: the links start with it (default '', the root). */
  base?: string;
}

export function computeAlerts(input: AlertInput): Alert[] {
  const now = input.now ?? Date.now();
  const b = esc(input.base ?? '');
  const out: Alert[] = [];
  for (const p of new Set(input.evictionPolicies)) {
    if (p && p !== 'noeviction') {
      out.push({ tone: 'bad', html: `Redis <b>maxmemory-policy</b> is <code>${esc(p)}</code>: when memory fills up Redis evicts keys and jobs are lost without a trace. Set it to <code>noeviction</code>. <a href="${b}/redis">Redis page</a>` });
    }
  }
  for (const q of input.queues) {
    const link = `<a href="${b}/queues/queue/${encodeURIComponent(`{${q.name}}`)}">${esc(q.name)}</a>`;
    if (q.waiting > 0 && q.consumers === 0 && !q.paused) {
      out.push({ tone: 'bad', html: `Queue ${link} has ${plural(q.waiting, 'waiting job')} and no live worker takes jobs from it. Start one with <code>QUEUES=${esc(q.name)}</code>, or check the <a href="${b}/workers">workers</a> (a quiet worker takes none).` });
    }
    if (q.oldestSince !== undefined && now - q.oldestSince > input.waitingThresholdMs) {
      out.push({ tone: 'warn', html: `Queue ${link}: the oldest waiting job has waited ${esc(duration(now - q.oldestSince))} (alert threshold ${esc(duration(input.waitingThresholdMs))}).${q.paused ? ' The queue is paused.' : ''}` });
    }
    // Growing: jobs died recently and are still there (all replayed or dropped: nothing to do).
    if (q.recentDead > 0 && q.dead > 0) {
      out.push({ tone: 'warn', html: `Dead letters are growing in ${link}: ${plural(q.recentDead, 'job')} dead-lettered in the last ${input.deadWindowMin} min; ${plural(q.dead, 'dead letter')} now. <a href="${b}/dead?queue=${encodeURIComponent(q.name)}">See them</a>` });
    }
  }
  return out;
}

export function alertsHtml(alerts: Alert[]): string {
  if (alerts.length === 0) return '';
  return `<div class="alerts" role="alert">${alerts.map((a) => `<div class="alert ${a.tone}"><div>${a.html}</div></div>`).join('')}</div>`;
}
