/**
 * The modules HANDLERS names: one file, or the code files at the top of a
 * folder (minus helpers _x and .x, tests and declarations). The worker loads
 * handlers from them; the server and the worker load payload schemas from the
 * same modules (shared/queue/payload-schemas.ts). Problems are INVALID_HANDLER, at start.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConveyorError } from '../errors.ts';

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
