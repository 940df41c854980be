/**
 * The handlers: each definition with the function that runs it. This is the
 * module workers load, embedded (createWorker({ jobs })) or standalone
 * (`npx conveyor worker --jobs ./dist/jobs.js`).
 */
import { chargeCard, sendWelcome } from './definitions.js';

/** Which kind of worker ran a job (the example shows both). */
const ranBy = process.env.WORKER_KIND ?? 'standalone';

export const sendWelcomeJob = sendWelcome.handle(async (data, ctx) => {
  // data is typed from the schema: { userId: number; locale: 'en' | 'fr' }
  ctx.log.info({ userId: data.userId }, 'sending the welcome email');
  return { sentTo: data.userId, locale: data.locale, attempt: ctx.attempt, ranBy };
});

export const chargeCardJob = chargeCard.handle(async (data) => {
  if (data.cents < 0) throw new Error(`order ${data.orderId}: cannot charge ${data.cents} cents`);
  return { orderId: data.orderId, charged: data.cents, ranBy };
});
