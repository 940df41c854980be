/**
 * One handler per file: the default export is the handler and the file name
 * is the job name, so this file handles jobs named "send-welcome-email":
 *
 *   curl -X POST localhost:3000/v1/queues/default/jobs \
 *     -H 'content-type: application/json' \
 *     -d '{"name":"send-welcome-email","data":{"to":"ada@example.com","name":"Ada"}}'
 *
 * A handler gets the job's data and a context; what it returns is stored as
 * the job's result; what it throws fails the attempt (retried with backoff,
 * then dead-lettered).
 */
import { UnrecoverableError } from 'bullmq';
import type { HandlerContext } from '../../shared/runtime/handler.ts';
import { sendMail } from './_mailer.ts';

interface WelcomeData {
  to: string;
  name?: string;
}

export default async function sendWelcomeEmail(data: WelcomeData, ctx: HandlerContext) {
  // Bad data will not get better on a retry: skip the remaining attempts.
  if (typeof data?.to !== 'string') throw new UnrecoverableError('send-welcome-email needs data.to');
  ctx.log.info({ attempt: ctx.attempt }, 'sending welcome email');
  const receipt = await sendMail(
    { to: data.to, subject: `Welcome, ${data.name ?? 'friend'}!`, text: 'Thanks for signing up.' },
    ctx.signal, // aborted at the job's timeout or when the worker must stop
  );
  return { sent: true, ...receipt };
}
