/** Built-in handlers for smoke tests, demos and benchmarks: noop, sleep, fail. */
import type { Handler } from '../../shared/runtime/handler.ts';

export const noop: Handler = () => null;

export const sleep: Handler = (data: { ms?: unknown } | null, ctx) => {
  const ms = typeof data?.ms === 'number' && data.ms >= 0 ? data.ms : 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ slept: ms }), ms);
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('aborted'));
    }, { once: true });
  });
};

export const fail: Handler = (data: { times?: unknown; message?: unknown } | null, ctx) => {
  const times = typeof data?.times === 'number' ? data.times : Infinity;
  if (ctx.attempt <= times) {
    throw new Error(typeof data?.message === 'string' ? data.message : `fail: attempt ${ctx.attempt} failed on purpose`);
  }
  return { succeededOnAttempt: ctx.attempt };
};
