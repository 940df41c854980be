/**
 * `conveyor worker --jobs ./dist/jobs.js` (and `conveyor server --jobs …`):
 * the app's module of jobs, imported from the app's own folder so its
 * imports resolve against the app's node_modules. It may export job
 * definitions (defineJob, with handlers attached by .handle() for a worker)
 * as named exports, in arrays, or as a default export (one, an array, an
 * object of them); and plain handlers in the HANDLERS shapes (a `handlers`
 * object). Anything wrong is INVALID_JOB_DEFINITION in one line naming the
 * file and what was expected.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConveyorError } from '../errors.ts';
import type { Handler } from '../runtime/handler.ts';
import { handlersOf } from '../runtime/handler-files.ts';
import { isJobDefinition, sameJob, type AnyJobDefinition } from './define-job.ts';

export interface JobsModule {
  file: string;
  /** Every definition it exports (with or without a handler), once each. */
  definitions: AnyJobDefinition[];
  /** Plain handlers (a `handlers` export), by job name. */
  handlers: Record<string, Handler>;
}

const EXPECTED = 'export job definitions (export const sendWelcome = defineJob({ … }).handle(async (data, ctx) => …)), an array of them, or a "handlers" object';

function invalid(path: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_JOB_DEFINITION', `--jobs ${path}: ${why}`, { file: path });
}

/** Definitions found in an export value: one, an array, or an object of them. */
function definitionsIn(value: unknown, depth = 0): AnyJobDefinition[] {
  if (isJobDefinition(value)) return [value];
  if (depth > 0) return [];
  if (Array.isArray(value)) return value.flatMap((v) => definitionsIn(v, depth + 1));
  if (value && typeof value === 'object') return Object.values(value).flatMap((v) => definitionsIn(v, depth + 1));
  return [];
}

export async function loadJobsModule(path: string, cwd: string = process.cwd()): Promise<JobsModule> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw invalid(path, `no such file (resolved to ${file}; a relative path starts at the working directory)`);
  if (statSync(file).isDirectory()) throw invalid(path, `is a folder; name the module file (e.g. ./dist/jobs.js)`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw invalid(path, `it failed to load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return jobsModuleOf(mod, path, file);
}

/** The jobs and handlers of an imported jobs module (`path` as the user gave it, for errors). */
export function jobsModuleOf(mod: Record<string, unknown>, path: string, file: string): JobsModule {
  // Per job name: where each distinct definition value was exported.
  const found = new Map<string, { def: AnyJobDefinition; exportName: string }[]>();
  for (const [exportName, value] of Object.entries(mod)) {
    if (exportName === 'handlers') continue;
    for (const def of definitionsIn(value)) {
      const list = found.get(def.name) ?? [];
      if (!list.some((x) => x.def === def)) list.push({ def, exportName });
      found.set(def.name, list);
    }
  }
  const definitions: AnyJobDefinition[] = [];
  for (const [name, list] of found) {
    // `export const a = defineJob(…)` beside `export const aJob = a.handle(…)` is one job: the one with the handler.
    const handled = list.filter((x) => typeof x.def.run === 'function');
    const pick = handled.length === 1 ? handled[0]! : list.length === 1 ? list[0]! : undefined;
    const others = pick ? list.filter((x) => x !== pick && (typeof x.def.run === 'function' || !sameJob(x.def, pick.def))) : list;
    if (!pick || others.length > 0) {
      throw invalid(path, `job "${name}" is exported as ${list.length} different definitions (${list.map((x) => `"${x.exportName}"`).join(', ')}); a job name has one definition (and at most one handler)`);
    }
    definitions.push(pick.def);
  }
  const handlers = mod.handlers !== undefined ? handlersOf({ handlers: mod.handlers }, file) : {};
  if (definitions.length === 0 && Object.keys(handlers).length === 0) throw invalid(path, `it exports no job definitions or handlers; ${EXPECTED}`);
  return { file, definitions, handlers };
}
