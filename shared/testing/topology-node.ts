/**
 * One process of a test topology (a data node or a Sentinel) that outlives
 * its redis-server: it can be killed, paused (SIGSTOP, a primary that stops
 * answering but keeps its sockets open), resumed and restarted on the same
 * port and dir. Clients handed out before a restart keep reconnecting to it.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess, type RedisProcessOptions } from './redis-process.ts';
import { waitFor } from './wait-for.ts';

export type NodeKind = 'data' | 'sentinel';

export class TopologyNode {
  /** redis-0 is the first primary, redis-1.. the first replicas; sentinel-0.. */
  readonly name: string;
  readonly kind: NodeKind;
  private readonly startOptions: RedisProcessOptions & { port: number; dir: string };
  private current: RedisProcess;
  /** Every process this node has had (each stop() disconnects its clients). */
  private readonly generations: RedisProcess[];
  private isPaused = false;
  private admin: Redis | undefined;

  constructor(name: string, kind: NodeKind, startOptions: RedisProcessOptions & { port: number; dir: string }, first: RedisProcess) {
    this.name = name;
    this.kind = kind;
    this.startOptions = startOptions;
    this.current = first;
    this.generations = [first];
  }

  get port(): number {
    return this.startOptions.port;
  }
  get host(): string {
    return '127.0.0.1';
  }
  get dir(): string {
    return this.startOptions.dir;
  }
  /** redis://[:password@]127.0.0.1:port of this one node. */
  get url(): string {
    return this.current.url;
  }
  get proc(): ChildProcess {
    return this.current.proc;
  }
  get paused(): boolean {
    return this.isPaused;
  }

  /** A plain client for assertions (maxRetriesPerRequest 1); closed by the topology's stop(). */
  client(): Redis {
    return this.current.client();
  }

  alive(): boolean {
    const p = this.current.proc;
    return p.exitCode === null && p.signalCode === null;
  }

  /** Alive and not paused: it should answer. */
  answering(): boolean {
    return this.alive() && !this.isPaused;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (signal === 'SIGSTOP') this.isPaused = true;
    if (signal === 'SIGCONT') this.isPaused = false;
    this.current.kill(signal);
  }

  pause(): void {
    this.kill('SIGSTOP');
  }

  resume(): void {
    this.kill('SIGCONT');
  }

  /** Resolves when the current process has exited. */
  exited(timeoutMs = 10_000): Promise<void> {
    return waitFor(`${this.name} (port ${this.port}) to exit`, () => !this.alive(), { timeoutMs, intervalMs: 10 }).then(() => undefined);
  }

  /**
   * A command on a private admin connection with a 1 s timeout, for probes:
   * a dead or paused node makes it reject quickly instead of hanging.
   */
  call(...args: (string | number)[]): Promise<unknown> {
    if (!this.admin) {
      this.admin = new Redis({
        host: '127.0.0.1',
        port: this.port,
        password: this.startOptions.password,
        ...(this.startOptions.tls ? { tls: { ca: this.startOptions.tls.ca } } : {}),
        maxRetriesPerRequest: 0,
        commandTimeout: 1000,
        connectTimeout: 1000,
        retryStrategy: () => 100,
      });
      this.admin.on('error', () => {});
    }
    const [cmd, ...rest] = args;
    return this.admin.call(String(cmd), ...rest);
  }

  /** 'master', 'slave' or 'sentinel' (ROLE). */
  async role(): Promise<string> {
    const r = (await this.call('ROLE')) as unknown[];
    return String(r[0]);
  }

  /** The primary port this node replicates from and whether the link is up (ROLE of a replica). */
  async replicaLink(): Promise<{ primaryPort: number; connected: boolean } | undefined> {
    const r = (await this.call('ROLE')) as unknown[];
    if (r[0] !== 'slave') return undefined;
    return { primaryPort: Number(r[2]), connected: r[3] === 'connected' };
  }

  /** Starts the process again on the same port and dir (SIGKILLs it first if it still runs). */
  async restart(): Promise<void> {
    if (this.alive()) {
      this.kill('SIGKILL');
      await this.exited();
    }
    this.isPaused = false;
    const next = await startRedis(this.startOptions);
    this.current = next;
    this.generations.push(next);
  }

  /** Kills every process this node had and closes every client; the dir is left to the topology. */
  async stop(): Promise<void> {
    this.admin?.disconnect();
    this.admin = undefined;
    for (const g of this.generations) await g.stop();
    this.isPaused = false;
  }
}
