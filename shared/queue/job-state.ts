/** The states a job can be in, as Conveyor names them (BullMQ's waiting, prioritized and waiting-children are all "waiting"). */
export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'dead';
export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead'];
