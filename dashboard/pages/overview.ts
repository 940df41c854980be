/** GET / — every queue with its counts, linking to its bull-board page. */
import type { QueueSummary } from '#shared/queue/inspector.ts';
import { bullName, deadBullName } from '#shared/queue/names.ts';
import { esc, page } from './layout.ts';

const COLUMNS = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead'] as const;

/** bull-board's page of one BullMQ queue (its names are "{queue}" and "{queue}.dead"). */
export function boardQueueHref(bullQueueName: string): string {
  return `/queues/queue/${encodeURIComponent(bullQueueName)}`;
}

export function overviewPage(queues: QueueSummary[], opts: { logout: boolean }): string {
  const rows = queues.map((q) => {
    const cells = COLUMNS.map((c) => {
      const n = q.counts[c];
      const cls = (c === 'failed' || c === 'dead') && n > 0 ? ' class="bad"' : '';
      const cell = c === 'dead' && n > 0 ? `<a href="${esc(boardQueueHref(deadBullName(q.name)))}">${n}</a>` : String(n);
      return `<td${cls}>${cell}</td>`;
    });
    const paused = q.paused ? ' <span class="tag">paused</span>' : '';
    return `<tr data-queue="${esc(q.name)}"><td><a href="${esc(boardQueueHref(bullName(q.name)))}">${esc(q.name)}</a>${paused}</td>${cells.join('')}</tr>`;
  });
  const table = queues.length === 0
    ? '<p class="muted">No queues yet. A queue appears here once a job is enqueued to it or a worker consumes it.</p>'
    : `<table>
<thead><tr><th>Queue</th>${COLUMNS.map((c) => `<th>${c}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
  return page(
    { title: 'Overview', current: '/', logout: opts.logout },
    `<h1>Overview</h1>
${table}
<p class="muted">Jobs, retries and dead letters in detail: <a href="/queues">the queue board</a>.</p>`,
  );
}
