/**
 * Job log lines of a worker process, from WorkerHost events: one JSON line
 * per event with worker id, queue, job id, job name, attempt and duration.
 * Never the payload (it may hold personal data) and never the result.
 * Starts and completions are debug (LOG_LEVEL=debug shows every job; at info
 * a busy worker would write thousands of lines a second); failed attempts
 * are the WorkerHost's own warn lines, with the same fields.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { WorkerHost } from './worker-host.ts';

/** The attempt a job is on: 1 for the first run. */
export function attemptOf(job: Job): number {
  return job.attemptsStarted > 0 ? job.attemptsStarted : job.attemptsMade + 1;
}

export function jobFields(queue: string, job: Job): Record<string, unknown> {
  return { queue, jobId: job.id, jobName: job.name, attempt: attemptOf(job) };
}

export function attachJobLog(host: WorkerHost, logger: Logger): void {
  const log = logger.child({ worker: host.id });
  if (!log.isLevelEnabled('debug')) return; // nothing to write: no listeners on the hot path
  host.on('job-active', (queue, job) => log.debug(jobFields(queue, job), 'job started'));
  host.on('job-completed', (queue, job, durationMs) => log.debug({ ...jobFields(queue, job), durationMs }, 'job completed'));
}
