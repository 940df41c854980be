/**
 * Payload schemas declared in HANDLERS modules, beside their handlers:
 *
 *   export const schemas = { 'send-email': { type: 'object', required: ['to'], properties: { to: { type: 'string', format: 'email' } } } };
 *
 * A schema is a JSON Schema or a Standard Schema (zod…). They join the job
 * catalog (shared/jobs/job-catalog.ts) that typed definitions (defineJob)
 * feed too: the server and the library validate data before any Redis write
 * and refuse a mismatch with PAYLOAD_INVALID (422). A problem with a HANDLERS
 * module's schemas is INVALID_HANDLER naming the file.
 */
import { ConveyorError } from '../errors.ts';
import { handlerModuleFiles, importHandlerModule } from '../runtime/handler-files.ts';
import { JobCatalog, type CatalogSource } from '../jobs/job-catalog.ts';

/** The `schemas` export of a handler module (ESM named export, or module.exports.schemas). */
export function schemasOf(mod: Record<string, unknown>): Record<string, unknown> | undefined {
  const def = mod.default as { schemas?: unknown } | undefined;
  const s = mod.schemas ?? (def && typeof def === 'object' ? def.schemas : undefined);
  if (s === undefined) return undefined;
  if (!s || typeof s !== 'object' || Array.isArray(s)) throw new ConveyorError('INVALID_HANDLER', 'the "schemas" export must be an object of job name → schema', {});
  return s as Record<string, unknown>;
}

/** The schemas of every HANDLERS module, as catalog sources (none without HANDLERS). */
export async function handlerSchemaSources(handlersPath: string | undefined): Promise<CatalogSource[]> {
  if (!handlersPath) return [];
  const sources: CatalogSource[] = [];
  for (const file of handlerModuleFiles(handlersPath)) {
    const mod = await importHandlerModule(file);
    let found: Record<string, unknown> | undefined;
    try {
      found = schemasOf(mod);
    } catch (err) {
      throw new ConveyorError('INVALID_HANDLER', `HANDLERS: ${file}: ${(err as Error).message}`, { file });
    }
    for (const [name, schema] of Object.entries(found ?? {})) sources.push({ name, schema, from: `HANDLERS: ${file}`, errorCode: 'INVALID_HANDLER' });
  }
  return sources;
}

/** The catalog of the HANDLERS modules' schemas alone (a bad schema is INVALID_HANDLER naming its file). */
export async function loadPayloadSchemas(handlersPath: string | undefined): Promise<JobCatalog> {
  return JobCatalog.create(await handlerSchemaSources(handlersPath));
}
