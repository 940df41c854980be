/**
 * An HTTP listener as a Service: start() listens (port 0 picks a free port),
 * stop() stops accepting, lets in-flight requests finish within a grace
 * period, then closes every socket (keep-alive sockets would otherwise hold
 * the process open). Idempotent; safe before start().
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Service } from './service.ts';

export interface HttpServiceOptions {
  handler: RequestListener;
  port: number;
  host: string;
  /** How long stop() lets in-flight requests finish. */
  graceMs?: number;
  /** Called once listening, with the port actually bound. */
  onListening?: (port: number) => void;
}

export class HttpService implements Service {
  private readonly opts: HttpServiceOptions;
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;

  constructor(opts: HttpServiceOptions) {
    this.opts = opts;
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  start(): Promise<void> {
    if (this.server) throw new Error('HttpService.start() called twice');
    const server = createServer(this.opts.handler);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        this.opts.onListening?.(this.port);
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A keep-alive socket turns idle when its last response ends; close those as they appear.
    server.closeIdleConnections();
    const sweeper = setInterval(() => server.closeIdleConnections(), 50);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.opts.graceMs ?? 5000)));
    await Promise.race([closed, grace]);
    clearTimeout(timer);
    clearInterval(sweeper);
    server.closeAllConnections();
    await closed;
  }
}
