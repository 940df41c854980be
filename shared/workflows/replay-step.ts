/**
 * The dead-letter replay of a workflow step (API, CLI, board, library):
 * through the workflow, so the step waits again for the steps it runs after
 * and the steps it cancelled run again too (Workflows.replay). false when its
 * workflow is gone: the caller replays it as a plain job.
 */
import type { DeadLetters } from '../queue/dead-letter.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import type { DeadBatchLink } from '../batches/replay.ts';
import { Batches } from '../batches/batches.ts';
import { BatchStore } from '../batches/store.ts';
import { Workflows, workflowKey } from './workflows.ts';

export async function replayStep(deadLetters: DeadLetters, queues: QueueSet, link: DeadBatchLink): Promise<boolean> {
  if ((await queues.connection.exists(workflowKey(link.home, link.id))) !== 1) return false;
  const store = new BatchStore(queues);
  const workflows = new Workflows(new Batches(store, { maxPayloadBytes: Number.MAX_SAFE_INTEGER }), { maxPayloadBytes: Number.MAX_SAFE_INTEGER });
  try {
    await workflows.replay(link.id, link.step!, deadLetters);
    return true;
  } finally {
    await workflows.close();
    await store.close();
  }
}
