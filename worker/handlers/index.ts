/**
 * The handlers a worker knows: the built-ins of SPEC plus those HANDLERS loads.
 * A user handler with a built-in's name replaces it.
 */
import { basename, extname } from 'node:path';
import { ConveyorError } from '../../shared/errors.ts';
import { isValidJobName } from '../../shared/queue/names.ts';
import type { Handler, HandlerMap } from '../../shared/runtime/handler.ts';
import { handlerModuleFiles, importHandlerModule } from '../../shared/runtime/handler-files.ts';
import { fail, noop, sleep } from './basic.ts';
import { createHttpHandler } from './http.ts';

export function builtinHandlers(httpAllowedHosts: readonly string[]): Record<string, Handler> {
  return { http: createHttpHandler(httpAllowedHosts), noop, sleep, fail };
}

const SHAPES =
  'export a default function (the job name is the file name), ' +
  'a "handlers" object or a default object of handlers ({ "job-name": async (data, ctx) => ... })';

function invalid(file: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_HANDLER', `HANDLERS: ${file}: ${why}`, { file });
}

function handlersOf(mod: Record<string, unknown>, file: string): Record<string, Handler> {
  // A CommonJS `module.exports = { handlers }` arrives as the default export.
  const def = mod.default as { handlers?: unknown } | undefined;
  const cjsHandlers = def && typeof def === 'object' && def.handlers && typeof def.handlers === 'object' ? def.handlers : undefined;
  const candidate = (mod.handlers ?? cjsHandlers ?? mod.default) as unknown;
  if (typeof candidate === 'function') {
    const name = basename(file, extname(file));
    if (!isValidJobName(name)) throw invalid(file, `the file name "${name}" is not a valid job name`);
    return { [name]: candidate as Handler };
  }
  if (candidate && typeof candidate === 'object' && !Array.isArray(candidate)) {
    const out: Record<string, Handler> = {};
    for (const [name, fn] of Object.entries(candidate)) {
      if (typeof fn !== 'function') throw invalid(file, `handler "${name}" is ${fn === null ? 'null' : typeof fn}, not a function`);
      if (!isValidJobName(name)) throw invalid(file, `"${name}" is not a valid job name (1-128 printable characters)`);
      out[name] = fn as Handler;
    }
    if (Object.keys(out).length === 0) throw invalid(file, `it exports an empty object of handlers; ${SHAPES}`);
    return out;
  }
  const what = candidate === undefined ? 'no default export and no "handlers" export' : `${Array.isArray(candidate) ? 'an array' : `a ${typeof candidate}`} as its ${mod.handlers !== undefined ? '"handlers"' : 'default'} export`;
  throw invalid(file, `it has ${what}; ${SHAPES}`);
}

/** Loads HANDLERS: a module, or a folder of modules. Any problem is INVALID_HANDLER, at start. */
export async function loadHandlers(path: string): Promise<Record<string, Handler>> {
  const files = handlerModuleFiles(path);
  const all: Record<string, Handler> = {};
  const from = new Map<string, string>();
  for (const file of files) {
    const mod = await importHandlerModule(file);
    for (const [name, fn] of Object.entries(handlersOf(mod, file))) {
      const other = from.get(name);
      if (other) throw invalid(file, `job name "${name}" is also defined by ${other}`);
      from.set(name, file);
      all[name] = fn;
    }
  }
  return all;
}

export async function resolveHandlers(httpAllowedHosts: readonly string[], handlersPath: string | undefined): Promise<HandlerMap> {
  const user = handlersPath ? await loadHandlers(handlersPath) : {};
  return Object.freeze({ ...builtinHandlers(httpAllowedHosts), ...user });
}
