/** A keep-alive HTTP client for the API benchmark (node:http; undici is not installed). */
import { Agent, request } from 'node:http';

export interface JsonClient {
  post(path: string, body: unknown): Promise<{ status: number; body: string }>;
  close(): void;
}

export function jsonClient(baseUrl: string, token: string, sockets: number): JsonClient {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const url = new URL(baseUrl);
  return {
    post(path, body) {
      const data = Buffer.from(JSON.stringify(body));
      return new Promise((resolve, reject) => {
        const req = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${token}` },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    },
    close: () => agent.destroy(),
  };
}

/** Runs `total` calls of fn over `workers` concurrent loops; resolves with the elapsed seconds. */
export async function concurrently(total: number, workers: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) await fn(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}
