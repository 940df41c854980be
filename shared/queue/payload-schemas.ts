/**
 * Payload schemas: a job name may declare the shape of its data in the
 * HANDLERS module, beside its handler:
 *
 *   export const schemas = { 'send-email': { type: 'object', required: ['to'], properties: { to: { type: 'string', format: 'email' } } } };
 *
 * A schema is a JSON Schema (draft 2020-12 or 07, compiled by Ajv, formats
 * from ajv-formats) or a zod schema (anything with safeParse). The server
 * and the library validate data before any Redis write (Producer option
 * validatePayload) and refuse a mismatch with PAYLOAD_INVALID (422), naming
 * the path of the first error. A job name without a schema takes any data.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConveyorError } from '../errors.ts';
import { handlerModuleFiles, importHandlerModule } from '../runtime/handler-files.ts';
import { isValidJobName } from './names.ts';

type Check = (data: unknown) => { path: (string | number)[]; message: string } | undefined;

interface ZodLike {
  safeParse(data: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } };
}

// ajv-formats is CommonJS: its function is the default export, or that export's default.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

function invalid(file: string, why: string): ConveyorError {
  return new ConveyorError('INVALID_HANDLER', `HANDLERS: ${file}: ${why}`, { file });
}

/** JSON pointer (/a/0/b~1c) → path segments. */
function pointerPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describeAjvError(e: ErrorObject): { path: string[]; message: string } {
  const path = pointerPath(e.instancePath);
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && p.missingProperty !== undefined) return { path: [...path, p.missingProperty], message: 'is required' };
  if (e.keyword === 'additionalProperties' && p.additionalProperty !== undefined) return { path: [...path, p.additionalProperty], message: 'is not allowed' };
  return { path, message: e.message ?? `fails "${e.keyword}"` };
}

export class PayloadSchemas {
  private readonly checks = new Map<string, Check>();
  private readonly ajv: Ajv;

  constructor() {
    // strict: a typo in a schema keyword is an error at start, not a schema that accepts everything.
    this.ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
    addFormats(this.ajv);
  }

  /** Job names that declare a schema. */
  get names(): string[] {
    return [...this.checks.keys()].sort();
  }

  get size(): number {
    return this.checks.size;
  }

  /** Adds the schema of one job name; `from` names its module in errors. */
  add(name: string, schema: unknown, from = 'schemas'): void {
    if (!isValidJobName(name)) throw invalid(from, `schema for "${name}": not a valid job name (1-128 printable characters)`);
    if (this.checks.has(name)) throw invalid(from, `job name "${name}" has two schemas`);
    if (schema && typeof (schema as ZodLike).safeParse === 'function') {
      const zod = schema as ZodLike;
      this.checks.set(name, (data) => {
        const r = zod.safeParse(data);
        const issue = r.success ? undefined : r.error?.issues[0];
        return r.success ? undefined : { path: (issue?.path ?? []).map((k) => (typeof k === 'number' ? k : String(k))), message: issue?.message ?? 'is invalid' };
      });
      return;
    }
    if (typeof schema !== 'object' && typeof schema !== 'boolean') throw invalid(from, `schema for "${name}" is a ${typeof schema}; give a JSON Schema object or a zod schema`);
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile(schema as object | boolean);
    } catch (err) {
      throw invalid(from, `schema for "${name}" is not a valid JSON Schema: ${(err as Error).message}`);
    }
    this.checks.set(name, (data) => (validate(data) ? undefined : describeAjvError(validate.errors![0]!)));
  }

  /**
   * Throws PAYLOAD_INVALID when the job name has a schema and the data does
   * not match it. `where` prefixes the path ("jobs.3" in a bulk).
   */
  validate(name: string, data: unknown, where = ''): void {
    const check = this.checks.get(name);
    if (!check) return;
    const problem = check(data === undefined ? null : data);
    if (!problem) return;
    const path = [where, 'data', ...problem.path.map(String)].filter((s) => s !== '').join('.');
    throw new ConveyorError('PAYLOAD_INVALID', `${path}: ${problem.message} (schema of job "${name}")`, { path, job: name });
  }

  /** The Producer hook (ProducerOptions.validatePayload). */
  get validator(): (name: string, data: unknown, where: string) => void {
    return (name, data, where) => this.validate(name, data, where);
  }
}

/** The `schemas` export of a handler module (ESM named export, or module.exports.schemas). */
export function schemasOf(mod: Record<string, unknown>): Record<string, unknown> | undefined {
  const def = mod.default as { schemas?: unknown } | undefined;
  const s = mod.schemas ?? (def && typeof def === 'object' ? def.schemas : undefined);
  if (s === undefined) return undefined;
  if (!s || typeof s !== 'object' || Array.isArray(s)) throw new ConveyorError('INVALID_HANDLER', 'the "schemas" export must be an object of job name → schema', {});
  return s as Record<string, unknown>;
}

/** Loads and compiles the schemas of every HANDLERS module (none without HANDLERS). */
export async function loadPayloadSchemas(handlersPath: string | undefined): Promise<PayloadSchemas> {
  const schemas = new PayloadSchemas();
  if (!handlersPath) return schemas;
  for (const file of handlerModuleFiles(handlersPath)) {
    const mod = await importHandlerModule(file);
    let found: Record<string, unknown> | undefined;
    try {
      found = schemasOf(mod);
    } catch (err) {
      throw invalid(file, (err as Error).message);
    }
    for (const [name, schema] of Object.entries(found ?? {})) schemas.add(name, schema, file);
  }
  return schemas;
}
