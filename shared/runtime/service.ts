/** A long-lived part of a process with an explicit lifecycle. stop() is idempotent and safe before start(). */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}
