/**
 * The history database `npm start` keeps when HISTORY_URL is unset: PGlite
 * (PostgreSQL compiled to WebAssembly, in this process) with its data under
 * <CONVEYOR_HOME>/history, served on 127.0.0.1:<CONVEYOR_LOCAL_HISTORY_PORT,
 * default 6381> over PostgreSQL's own wire protocol, so the server and the
 * dashboard reach it with HISTORY_URL=postgres://… through the same driver
 * (node-postgres), the same SQL and the same migrations as a production
 * PostgreSQL. Nothing to install; the price is speed (a few thousand events a
 * second, enough for one machine's development load) and one process only.
 *
 * PGlite is one backend (one session). Several connections share it: a
 * connection that sends a message owns the backend until PostgreSQL answers
 * ReadyForQuery outside a transaction — so an extended-protocol exchange
 * (Parse … Sync) or a transaction (BEGIN … COMMIT) of one connection is never
 * interleaved with another's — then the next connection waiting goes. A
 * connection that closes inside its transaction has it rolled back.
 * Session-level state (advisory locks, SET) is shared by every connection:
 * the migrations run here once, before the server and the dashboard start,
 * so their own concurrent migrate() finds nothing to do.
 *
 * A lock file (history/conveyor.pid) keeps a second `npm start` from opening
 * the same data folder while the first runs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../shared/history/schema.ts';

export interface LocalHistory {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dir: string;
  /** Closes the connections, then PGlite (which flushes its data folder). */
  stop(): Promise<void>;
}

/** A failure with a message for people (a port in use, a folder in use). */
export class LocalHistoryError extends Error {}

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** The part of PGlite this bridge uses (its types stay out of our declarations). */
interface Backend {
  execProtocolRawStream(message: Uint8Array, o: { onRawData: (data: Uint8Array) => void }): Promise<void>;
  isInTransaction(): boolean;
  exec(sql: string): Promise<unknown>;
  close(): Promise<void>;
}

interface Conn {
  socket: Socket;
  buf: Buffer;
  started: boolean;
  pending: Buffer[];
  closed: boolean;
}

/** Serves one backend to many wire-protocol connections, one exchange or transaction at a time. */
class Bridge {
  private owner: Conn | undefined;
  private readonly waiting: Conn[] = [];
  private running = false;
  private readonly conns = new Set<Conn>();

  constructor(private readonly db: Backend) {}

  attach(socket: Socket): void {
    socket.setNoDelay(true);
    const c: Conn = { socket, buf: Buffer.alloc(0), started: false, pending: [], closed: false };
    this.conns.add(c);
    socket.on('data', (d) => this.receive(c, d));
    socket.on('error', () => this.detach(c));
    socket.on('close', () => this.detach(c));
  }

  closeAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  private receive(c: Conn, data: Buffer): void {
    c.buf = c.buf.length === 0 ? data : Buffer.concat([c.buf, data]);
    for (;;) {
      if (!c.started) {
        if (c.buf.length < 8) return;
        const len = c.buf.readInt32BE(0);
        const code = c.buf.readInt32BE(4);
        if (len < 8 || len > 10_000) return void c.socket.destroy();
        if (c.buf.length < len) return;
        const msg = c.buf.subarray(0, len);
        c.buf = c.buf.subarray(len);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          c.socket.write('N'); // no TLS on a loopback-only server
          continue;
        }
        if (code === CANCEL_REQUEST || code !== PROTOCOL_3) return void c.socket.destroy();
        c.started = true;
        this.enqueue(c, msg);
        continue;
      }
      if (c.buf.length < 5) return;
      const len = 1 + c.buf.readInt32BE(1);
      if (c.buf.length < len) return;
      const msg = c.buf.subarray(0, len);
      c.buf = c.buf.subarray(len);
      if (msg[0] === 0x58 /* X: Terminate */) return void c.socket.end();
      this.enqueue(c, msg);
    }
  }

  private enqueue(c: Conn, msg: Buffer): void {
    c.pending.push(Buffer.from(msg));
    if (c !== this.owner && !this.waiting.includes(c)) this.waiting.push(c);
    void this.pump();
  }

  private detach(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    c.pending = [];
    this.conns.delete(c);
    const i = this.waiting.indexOf(c);
    if (i >= 0) this.waiting.splice(i, 1);
    void this.pump();
  }

  /** Runs the owner's messages; hands the backend on when the owner is idle outside a transaction. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        if (this.owner?.closed) {
          // Its transaction (if any) must not leak into the next connection's work.
          if (this.db.isInTransaction()) await this.db.exec('ROLLBACK').catch(() => {});
          this.owner = undefined;
        }
        if (!this.owner) {
          this.owner = this.waiting.shift();
          if (!this.owner) return;
        }
        const c = this.owner;
        const msg = c.pending.shift();
        if (!msg) return; // the owner is mid-exchange or mid-transaction: wait for its next message
        let tail = Buffer.alloc(0); // the answer's last bytes, wherever its chunks split
        await this.db.execProtocolRawStream(msg, {
          onRawData: (out) => {
            if (!c.closed) c.socket.write(out);
            tail = Buffer.concat([tail, out]).subarray(-6);
          },
        });
        if (endsWithReadyForQuery(tail) && !this.db.isInTransaction()) {
          this.owner = undefined;
          if (c.pending.length > 0) this.waiting.push(c);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** ReadyForQuery is 'Z', length 5, one status byte: the last message of an answer. */
function endsWithReadyForQuery(out: Uint8Array): boolean {
  const n = out.length;
  return n >= 6 && out[n - 6] === 0x5a && out[n - 5] === 0 && out[n - 4] === 0 && out[n - 3] === 0 && out[n - 2] === 5;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function takeLock(dir: string): string {
  const file = join(dir, 'conveyor.pid');
  let other: number | undefined;
  try {
    other = Number(readFileSync(file, 'utf8').trim());
  } catch {
    // no lock file
  }
  if (other && other !== process.pid && pidAlive(other)) {
    throw new LocalHistoryError(`the history data in ${dir} is in use by another conveyor start (pid ${other}); stop it first, or set CONVEYOR_HOME to another folder`);
  }
  writeFileSync(file, `${process.pid}\n`);
  return file;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen((server.address() as { port: number }).port);
    });
  });
}

/** Opens (creating on first use) the history under dir, migrates it, and serves it on 127.0.0.1:port (0 = any free port). */
export async function startLocalHistory(o: { dir: string; port: number }): Promise<LocalHistory> {
  mkdirSync(o.dir, { recursive: true });
  const lock = takeLock(o.dir);
  const server = createServer();
  let port: number;
  try {
    port = await listen(server, o.port);
  } catch (err) {
    rmSync(lock, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new LocalHistoryError(`port ${o.port} (the local history) is in use: set CONVEYOR_LOCAL_HISTORY_PORT to a free port, or HISTORY_URL to a PostgreSQL you run`);
    }
    throw err;
  }
  let db: Backend & { waitReady: Promise<void> };
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    db = new PGlite({ dataDir: join(o.dir, 'pgdata') }) as unknown as Backend & { waitReady: Promise<void> };
    await db.waitReady;
  } catch (err) {
    server.close();
    rmSync(lock, { force: true });
    throw new LocalHistoryError(`could not open the local history in ${o.dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bridge = new Bridge(db);
  server.on('connection', (s) => bridge.attach(s));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    await new Promise<void>((r) => {
      server.close(() => r());
      bridge.closeAll();
    });
    await db.close().catch(() => {});
    rmSync(lock, { force: true });
  };
  try {
    // Migrate once here: PGlite's one session makes the migration lock a no-op between connections.
    const client = new pg.Client({ connectionString: url, application_name: 'conveyor-start' });
    await client.connect();
    try {
      await migrate(client);
    } finally {
      await client.end();
    }
  } catch (err) {
    await stop();
    throw new LocalHistoryError(`could not prepare the local history in ${o.dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { url, port, dir: o.dir, stop };
}
