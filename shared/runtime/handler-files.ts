/**
 * The modules HANDLERS names: one file, or the code files at the top of a
 * folder (minus helpers _x and .x, tests and declarations). The worker loads
 * handlers from them; the server and the worker load payload schemas from the
 * same modules (shared/queue/payload-schemas.ts). Problems are INVALID_HANDLER, at start.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConveyorError } from '../errors.ts';
import { isValidJobName } from '../queue/names.ts';
import type { Handler } from './handler.ts';

const MODULE_EXT = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);

function moduleFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && MODULE_EXT.has(extname(e.name)))
    .map((e) => e.name)
    .filter((f) => !f.startsWith('_') && !f.startsWith('.') && !/\.d\.[cm]?ts$/.test(f) && !f.includes('.test.'))
    .sort()
    .map((f) => join(dir, f));
}

/** The module files of HANDLERS (absolute paths, sorted). */
export function handlerModuleFiles(path: string): string[] {
  const full = resolve(path);
  let files: string[];
  try {
    files = statSync(full).isDirectory() ? moduleFiles(full) : [full];
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message;
    throw new ConveyorError('INVALID_HANDLER', `HANDLERS=${path}: ${why} (resolved to ${full}; relative paths start at the working directory)`, { file: full });
  }
  if (files.length === 0) throw new ConveyorError('INVALID_HANDLER', `HANDLERS=${path}: the folder holds no handler modules (.ts, .js, .mjs, .cjs)`, { file: full });
  return files;
}

/** Imports one handler module (cached by the module loader: importing it twice runs it once). */
export async function importHandlerModule(file: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConveyorError('INVALID_HANDLER', `HANDLERS: ${file}: it failed to load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { file });
  }
}

const SHAPES =
  'export a default function (the job name is the file name), ' +
  'a "handlers" object or a default object of handlers ({ "job-name": async (data, ctx) => ... })';

function invalid(file: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_HANDLER', `HANDLERS: ${file}: ${why}`, { file });
}

export function handlersOf(mod: Record<string, unknown>, file: string): Record<string, Handler> {
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

