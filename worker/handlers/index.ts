/**
 * The handlers a worker knows: the built-ins of SPEC plus those HANDLERS loads.
 * A user handler with a built-in's name replaces it.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConveyorError } from '#shared/errors.ts';
import type { Handler, HandlerMap } from '#shared/runtime/handler.ts';
import { fail, noop, sleep } from './basic.ts';
import { createHttpHandler } from './http.ts';

export function builtinHandlers(httpAllowedHosts: readonly string[]): Record<string, Handler> {
  return { http: createHttpHandler(httpAllowedHosts), noop, sleep, fail };
}

const MODULE_EXT = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts']);

function handlersOf(mod: Record<string, unknown>, file: string): Record<string, Handler> {
  // `export default { name: fn }`, `export const handlers = { name: fn }`, or a file whose default is a function.
  const candidate = (mod.handlers ?? mod.default) as unknown;
  if (typeof candidate === 'function') {
    return { [basename(file, extname(file))]: candidate as Handler };
  }
  if (candidate && typeof candidate === 'object') {
    const out: Record<string, Handler> = {};
    for (const [name, fn] of Object.entries(candidate)) {
      if (typeof fn !== 'function') throw new ConveyorError('INVALID_HANDLER', `${file}: handler "${name}" is not a function`);
      out[name] = fn as Handler;
    }
    return out;
  }
  throw new ConveyorError('INVALID_HANDLER', `${file}: export a default object of handlers ({ name: async (data, ctx) => ... }), a "handlers" object, or a default function`);
}

/** Loads HANDLERS: a module, or a folder of modules (each file's default function is named for the file). */
export async function loadHandlers(path: string): Promise<Record<string, Handler>> {
  const full = resolve(path);
  let files: string[];
  try {
    files = statSync(full).isDirectory()
      ? readdirSync(full).filter((f) => MODULE_EXT.has(extname(f)) && !f.endsWith('.d.ts') && !f.includes('.test.')).map((f) => join(full, f)).sort()
      : [full];
  } catch (err) {
    throw new ConveyorError('INVALID_HANDLER', `HANDLERS=${path}: ${(err as Error).message}`);
  }
  const all: Record<string, Handler> = {};
  for (const file of files) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    Object.assign(all, handlersOf(mod, file));
  }
  return all;
}

export async function resolveHandlers(httpAllowedHosts: readonly string[], handlersPath: string | undefined): Promise<HandlerMap> {
  const user = handlersPath ? await loadHandlers(handlersPath) : {};
  return Object.freeze({ ...builtinHandlers(httpAllowedHosts), ...user });
}
