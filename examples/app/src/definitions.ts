/**
 * The jobs of this app, as definitions only: what producers import. No
 * handler code here, so enqueueing a job never loads what running it needs
 * (a mailer, a payment SDK…).
 */
import { z } from 'zod';
import { defineJob } from 'conveyor';

export const sendWelcome = defineJob({
  name: 'send-welcome',
  queue: 'emails',
  schema: z.object({ userId: z.number().int().positive(), locale: z.enum(['en', 'fr']).default('en') }),
  defaults: { attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
  description: 'Sends the welcome email to a new user',
});

export const chargeCard = defineJob({
  name: 'charge-card',
  queue: 'billing',
  schema: z.object({ orderId: z.string().min(1), cents: z.number().int() }),
  defaults: { attempts: 1 },
  description: 'Charges an order; a negative amount fails for good',
});
