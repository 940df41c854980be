/**
 * The jobs a process knows by name: typed definitions (defineJob) and the
 * `schemas` export of HANDLERS modules. The producer (library and HTTP API)
 * validates data against them before any Redis write, the worker before it
 * runs a handler, the OpenAPI document lists their payload schemas. One name
 * has one definition: a second is INVALID_JOB_DEFINITION naming both places.
 *
 * A schema is a Standard Schema (zod, valibot, arktype…: its own validate) or
 * a JSON Schema (draft 2020-12 or 07, compiled by Ajv in strict mode, formats
 * from ajv-formats; Ajv is loaded only when there is one). A mismatch is
 * PAYLOAD_INVALID naming the path of the first problem. A name without a
 * schema takes any data.
 */
import { ConveyorError } from '../errors.ts';
import { isValidJobName } from '../queue/names.ts';
import { isJobDefinition, isStandardSchema, sameJob, type AnyJobDefinition, type JobOptions, type StandardSchemaV1 } from './define-job.ts';

type Problem = { path: (string | number)[]; message: string };
/** The parsed value, or a problem; a Standard Schema may answer asynchronously. */
type Parse = (data: unknown) => { value: unknown } | Problem | Promise<{ value: unknown } | Problem>;

export interface CatalogEntry {
  name: string;
  /** The definition, when the name came from defineJob. */
  definition: AnyJobDefinition | undefined;
  /** Where it was declared (a module path, "Conveyor.connect({ jobs })"), for errors. */
  from: string;
  /** The payload's JSON Schema for the OpenAPI document (undefined: any data). */
  jsonSchema: Record<string, unknown> | boolean | undefined;
  parse: Parse | undefined;
}

/** A schema to add: a definition, or a bare schema under a name (HANDLERS `schemas` export). */
export type CatalogSource = ({ definition: AnyJobDefinition } | { name: string; schema: unknown }) & {
  from: string;
  /** The code of a problem with this source (default INVALID_JOB_DEFINITION; HANDLERS modules: INVALID_HANDLER). */
  errorCode?: 'INVALID_JOB_DEFINITION' | 'INVALID_HANDLER';
};

interface AjvLike {
  compile(schema: object | boolean): ((data: unknown) => boolean) & { errors?: unknown[] | null };
}

function invalid(src: CatalogSource, why: string, details?: Record<string, unknown>): ConveyorError {
  return new ConveyorError(src.errorCode ?? 'INVALID_JOB_DEFINITION', `${src.from}: ${why}`, details);
}

function standardParse(schema: StandardSchemaV1): Parse {
  const std = schema['~standard'];
  const toResult = (r: Awaited<ReturnType<typeof std.validate>>) => {
    if (!r.issues) return { value: r.value };
    const issue = r.issues[0];
    const path = (issue?.path ?? []).map((seg) => {
      const key = typeof seg === 'object' && seg !== null ? seg.key : seg;
      return typeof key === 'number' ? key : String(key);
    });
    return { path, message: issue?.message ?? 'is invalid' };
  };
  return (data) => {
    const r = std.validate(data);
    return r instanceof Promise ? r.then(toResult) : toResult(r);
  };
}

/** JSON pointer (/a/0/b~1c) → path segments. */
function pointerPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function ajvProblem(e: { instancePath?: string; keyword?: string; params?: unknown; message?: string }): Problem {
  const path = pointerPath(e.instancePath ?? '');
  const p = (e.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && p.missingProperty !== undefined) return { path: [...path, p.missingProperty], message: 'is required' };
  if (e.keyword === 'additionalProperties' && p.additionalProperty !== undefined) return { path: [...path, p.additionalProperty], message: 'is not allowed' };
  return { path, message: e.message ?? `fails "${e.keyword}"` };
}

async function loadAjv(): Promise<AjvLike> {
  const [{ Ajv }, formats] = await Promise.all([import('ajv'), import('ajv-formats')]);
  // ajv-formats is CommonJS: its function is the default export, or that export's default.
  const addFormats = ((formats as { default?: { default?: unknown } }).default?.default ?? (formats as { default?: unknown }).default) as (ajv: unknown) => unknown;
  // strict: a typo in a schema keyword is an error at start, not a schema that accepts everything.
  const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
  addFormats(ajv);
  return ajv as unknown as AjvLike;
}

/** The Standard JSON Schema of a Standard Schema (zod 4.2+), when it offers one. */
function standardJsonSchema(schema: StandardSchemaV1): Record<string, unknown> | undefined {
  try {
    const js = schema['~standard'].jsonSchema?.input({ target: 'draft-2020-12' });
    if (!js) return undefined;
    const { $schema: _drop, ...rest } = js;
    return rest;
  } catch {
    return undefined; // a schema the library cannot express (transforms, custom checks): documented as any data
  }
}

/** Checks a definition's default options (the core passes the enqueue options' own validation). */
export type DefaultsCheck = (job: AnyJobDefinition, from: string) => void;

export class JobCatalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private ajv: Promise<AjvLike> | undefined;

  /** Builds a catalog; a bad source throws before anything else happens. */
  static async create(sources: Iterable<CatalogSource> = [], checkDefaults?: DefaultsCheck): Promise<JobCatalog> {
    const catalog = new JobCatalog();
    for (const src of sources) await catalog.add(src, checkDefaults);
    return catalog;
  }

  /**
   * Adds a definition or a named schema. Synchronous unless a JSON Schema
   * must be compiled and Ajv is not loaded yet.
   */
  add(src: CatalogSource, checkDefaults?: DefaultsCheck): void | Promise<void> {
    const schema = 'definition' in src ? (src.definition as { schema?: unknown } | null)?.schema : src.schema;
    if (schema !== undefined && !isStandardSchema(schema) && ((typeof schema === 'object' && schema !== null && !Array.isArray(schema)) || typeof schema === 'boolean')) {
      this.ajv ??= loadAjv();
      return this.ajv.then((ajv) => this.addNow(src, ajv, checkDefaults));
    }
    this.addNow(src, undefined, checkDefaults);
  }

  private addNow(src: CatalogSource, ajv: AjvLike | undefined, checkDefaults: DefaultsCheck | undefined): void {
    const definition = 'definition' in src ? src.definition : undefined;
    if ('definition' in src && !isJobDefinition(src.definition)) throw invalid(src, 'not a job definition (made with defineJob)');
    const name = definition ? definition.name : (src as { name: string }).name;
    const schema = definition ? definition.schema : (src as { schema: unknown }).schema;
    if (!isValidJobName(name)) throw invalid(src, `schema for "${name}": not a valid job name (1-128 printable characters)`);
    const other = this.entries.get(name);
    if (other) {
      // The same definition listed twice (a producer and a worker of one app) is one job, not two.
      if (definition && other.definition && sameJob(other.definition, definition)) return;
      throw invalid(src, `job "${name}" is defined twice (also in ${other.from}); a job name has one definition`, { job: name });
    }
    if (definition) checkDefaults?.(definition, src.from);
    let parse: Parse | undefined;
    let jsonSchema: CatalogEntry['jsonSchema'];
    if (schema === undefined) {
      parse = undefined;
    } else if (isStandardSchema(schema)) {
      parse = standardParse(schema);
      jsonSchema = standardJsonSchema(schema);
    } else if (((typeof schema === 'object' && schema !== null && !Array.isArray(schema)) || typeof schema === 'boolean') && ajv) {
      let validate: ReturnType<AjvLike['compile']>;
      try {
        validate = ajv.compile(schema as object | boolean);
      } catch (err) {
        throw invalid(src, `schema for "${name}" is not a valid JSON Schema: ${(err as Error).message}`, { job: name });
      }
      parse = (data) => (validate(data) ? { value: data } : ajvProblem((validate.errors?.[0] ?? {}) as Parameters<typeof ajvProblem>[0]));
      jsonSchema = schema as Record<string, unknown> | boolean;
    } else {
      throw invalid(src, `schema for "${name}" is ${Array.isArray(schema) ? 'an array' : schema === null ? 'null' : `a ${typeof schema}`}; give a JSON Schema object or a Standard Schema (zod…)`, { job: name });
    }
    this.entries.set(name, { name, definition, from: src.from, jsonSchema, parse });
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  /** Known job names, sorted. */
  get names(): string[] {
    return [...this.entries.keys()].sort();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every known job with its description and payload JSON Schema, by name (the OpenAPI document). */
  documented(): { name: string; description: string | undefined; jsonSchema: CatalogEntry['jsonSchema'] }[] {
    return this.names.map((name) => {
      const e = this.entries.get(name)!;
      return { name, description: e.definition?.description, jsonSchema: e.jsonSchema };
    });
  }

  /** The default options a known job's definition gives (empty for other names). */
  defaultsOf(name: string): Readonly<JobOptions> | undefined {
    const d = this.entries.get(name)?.definition?.defaults;
    return d && Object.keys(d).length > 0 ? d : undefined;
  }

  /**
   * The data as the handler gets it (a Standard Schema's output), or
   * PAYLOAD_INVALID; synchronous unless the schema is. `where` prefixes the
   * path ("jobs.3" in a bulk).
   */
  parse(name: string, data: unknown, where = ''): unknown {
    const parse = this.entries.get(name)?.parse;
    if (!parse) return data;
    const r = parse(data === undefined ? null : data);
    return r instanceof Promise ? r.then((x) => this.outcome(name, x, where)) : this.outcome(name, r, where);
  }

  /** Throws (or rejects with) PAYLOAD_INVALID when the data does not match the name's schema. */
  validate(name: string, data: unknown, where = ''): void | Promise<void> {
    const r = this.parse(name, data, where);
    if (r instanceof Promise) return r.then(() => undefined);
  }

  private outcome(name: string, r: { value: unknown } | Problem, where: string): unknown {
    if ('value' in r) return r.value;
    const path = [where, 'data', ...r.path.map(String)].filter((s) => s !== '').join('.');
    throw new ConveyorError('PAYLOAD_INVALID', `${path}: ${r.message} (schema of job "${name}")`, { path, job: name });
  }
}
