/**
 * Bookkeeping of a migration between deployments. The journals live on the
 * OLD side, beside the queue (same hash tag), so a crash between "removed from
 * the old side" and "added to the new side" leaves the job's snapshot where
 * the next run finds it. The schedule marker lives on the NEW side.
 */
import { PREFIX } from '../queue/names.ts';

export const migrateKeys = {
  /** Hash on the old side: job id → snapshot of a job being moved (journal). */
  jobs: (queue: string) => `${PREFIX}:migrate:{${queue}}:jobs`,
  /** Hash on the old side: dead-letter id → snapshot of a dead letter being moved. */
  dead: (queue: string) => `${PREFIX}:migrate:{${queue}}:dead`,
  /** String on the old side: set while migrate holds the queue paused (so a rerun resumes it). */
  pausedByMigrate: (queue: string) => `${PREFIX}:migrate:{${queue}}:paused-by-migrate`,
  /** Hash on the new side: schedule id → "resume" or "keep-paused", set while a schedule is moved. */
  schedules: `${PREFIX}:migrate:schedules`,
} as const;
