/**
 * The app: its own express routes, Conveyor's API and dashboard mounted
 * under /conveyor behind the app's own (toy) authentication, and, with
 * EMBEDDED_WORKER=1, a worker in the same process for the emails queue.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node dist/server.js
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { Conveyor, isConveyorError } from 'conveyor';
import { createWorker } from 'conveyor/worker';
import { apiRouter } from 'conveyor/server';
import { dashboardRouter } from 'conveyor/dashboard';
import { sendWelcome, chargeCard } from './definitions.js';
import { sendWelcomeJob } from './jobs.js';

const conveyor = await Conveyor.fromEnv(process.env, { jobs: [sendWelcome, chargeCard] });

const worker = process.env.EMBEDDED_WORKER === '1' ? createWorker({ conveyor, jobs: [sendWelcomeJob] }) : undefined;
await worker?.start();

/**
 * The app's own sign-in, standing in for its sessions or SSO: HTTP Basic
 * with APP_ADMIN_PASSWORD (browsers ask for it; curl -u admin:…).
 */
const ADMIN_PASSWORD = process.env.APP_ADMIN_PASSWORD ?? 'change-me';
const EXPECTED = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
function requireAdmin(req: Request, res: Response, next: NextFunction): void {
  if (req.headers.authorization === EXPECTED) {
    res.locals.user = 'admin@example.com';
    next();
    return;
  }
  res.status(401).set('WWW-Authenticate', 'Basic realm="example app"').json({ error: 'sign in first' });
}

const app = express();
app.use(express.json());

// An ordinary route of the app that enqueues a typed job.
app.post('/signup', async (req, res) => {
  try {
    const job = await conveyor.enqueue(sendWelcome, { userId: Number(req.body?.userId) });
    res.status(202).json({ jobId: job.id, queue: job.queue });
  } catch (err) {
    if (isConveyorError(err)) res.status(err.status).json({ error: { code: err.code, message: err.message } });
    else throw err;
  }
});

app.use('/conveyor/api', requireAdmin, apiRouter({ conveyor, authenticate: false }));
app.use('/conveyor/dashboard', requireAdmin, dashboardRouter({ conveyor, identify: (_req) => ({ user: 'admin@example.com', role: 'admin' }) }));

const port = Number(process.env.PORT ?? 8080);
const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  console.log(JSON.stringify({ msg: 'app listening', url: `http://127.0.0.1:${bound}` }));
});

async function shutdown(): Promise<void> {
  server.close();
  await worker?.stop(); // running jobs finish first
  await conveyor.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
