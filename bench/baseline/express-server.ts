/**
 * The HTTP baseline: the least an express 5 producer API can do — parse the
 * JSON body, queue.add with Conveyor's job options, answer 201 — on a plain
 * ioredis connection, without Conveyor's validation, auth, limits or metrics.
 * env: BENCH_REDIS_PORT. Prints {"msg":"listening","url":...}.
 */
import express from 'express';
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { jobOpts, plainQueue } from '../lib/jobs.ts';

const conn = new Redis({ host: '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT) });
const queues = new Map<string, Queue>();
const queue = (name: string) => {
  let q = queues.get(name);
  if (!q) queues.set(name, (q = plainQueue(conn, name)));
  return q;
};

const app = express();
app.post('/v1/queues/:queue/jobs', express.json({ limit: '1mb' }), async (req, res) => {
  const job = await queue(req.params.queue).add(req.body.name, req.body.data, jobOpts());
  res.status(201).json({ id: job.id, queue: req.params.queue, name: req.body.name });
});
const server = app.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  conn.disconnect();
  process.exit(0);
});
