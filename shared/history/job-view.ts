/**
 * A finished job Redis no longer holds, answered from the history: what
 * getJob and GET /v1/queues/:queue/jobs/:id return once Redis has trimmed it
 * (only the last 1,000 completed jobs of a queue are kept), marked
 * `source: "history"`. The history keeps no return value (only its size), so
 * returnValue is null; a job dropped or removed on purpose stays not found.
 */
import type { JobView } from '../queue/inspector.ts';
import type { JobState } from '../queue/job-state.ts';
import type { HistoryStore } from './store.ts';

const STATES: ReadonlySet<string> = new Set<JobState>(['waiting', 'active', 'delayed', 'completed', 'failed', 'dead']);

export async function jobFromHistory(store: Pick<HistoryStore, 'timeline'>, queue: string, id: string): Promise<JobView | undefined> {
  const j = (await store.timeline(queue, id))?.job;
  if (!j || typeof j.name !== 'string' || !STATES.has(j.state)) return undefined;
  return {
    id,
    queue,
    name: j.name,
    state: j.state as JobState,
    data: j.payloadOmitted ? null : j.data,
    opts: (j.key ? { key: j.key } : {}) as JobView['opts'],
    attemptsMade: j.attempts,
    returnValue: null,
    failedReason: j.error === null ? null : j.errorCode && !j.error.startsWith(`${j.errorCode}:`) ? `${j.errorCode}: ${j.error}` : j.error,
    createdAt: j.createdAt,
    processedAt: j.startedAt,
    finishedAt: j.finishedAt,
    source: 'history',
  };
}
