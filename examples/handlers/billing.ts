/**
 * Several handlers in one module: export an object whose keys are job names
 * (`export const handlers = {...}` or `export default {...}`). This module
 * handles "charge-card" and "refund-payment".
 *
 * Handlers run at least once: a job whose worker dies runs again. Make them
 * idempotent, e.g. by passing the job id as the payment provider's
 * idempotency key as below.
 */
import type { Handler } from '../../shared/runtime/handler.ts';

interface ChargeData {
  customerId: string;
  amountCents: number;
  currency?: string;
}

const chargeCard: Handler = async (data: ChargeData, ctx) => {
  if (!Number.isInteger(data?.amountCents) || data.amountCents <= 0) {
    throw new Error(`charge-card: amountCents must be a positive whole number, got ${JSON.stringify(data?.amountCents)}`);
  }
  await ctx.job.updateProgress(50);
  // A real handler would call the payment API here with { idempotencyKey: `charge-${ctx.id}` }.
  return { chargeId: `ch_${ctx.id}`, customerId: data.customerId, amountCents: data.amountCents, currency: data.currency ?? 'EUR' };
};

const refundPayment: Handler = async (data: { chargeId: string }) => {
  return { refunded: data.chargeId };
};

export const handlers = {
  'charge-card': chargeCard,
  'refund-payment': refundPayment,
};
