/**
 * The handlers a worker knows: the built-ins of SPEC plus those HANDLERS loads.
 * A user handler with a built-in's name replaces it.
 */
import type { Handler, HandlerMap } from '../../shared/runtime/handler.ts';
import { loadHandlers } from '../../shared/runtime/handler-files.ts';
import { fail, noop, sleep } from './basic.ts';
import { createHttpHandler } from './http.ts';

export { loadHandlers };

export function builtinHandlers(httpAllowedHosts: readonly string[]): Record<string, Handler> {
  return { http: createHttpHandler(httpAllowedHosts), noop, sleep, fail };
}

export async function resolveHandlers(httpAllowedHosts: readonly string[], handlersPath: string | undefined): Promise<HandlerMap> {
  const user = handlersPath ? await loadHandlers(handlersPath) : {};
  return Object.freeze({ ...builtinHandlers(httpAllowedHosts), ...user });
}
