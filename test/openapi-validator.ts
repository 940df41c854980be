/**
 * For tests: an OpenAPI document as a checker. Finds the operation a request
 * went to (by method and path) and validates request and response bodies
 * with Ajv (draft 2020-12, formats checked) against the schemas the
 * document gives for that operation and status, $refs and all.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import * as formats from 'ajv-formats';

type Json = Record<string, any>;

export interface Operation {
  operationId: string;
  method: string;
  /** The path template, /v1/queues/{queue}. */
  path: string;
  op: Json;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** A JSON pointer segment. */
const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function closeSchemas(node: any): any {
  if (Array.isArray(node)) node.forEach(closeSchemas);
  else if (typeof node === 'object' && node !== null) {
    if (typeof node.properties === 'object' && !('additionalProperties' in node) && !('unevaluatedProperties' in node)) node.unevaluatedProperties = false;
    for (const v of Object.values(node)) closeSchemas(v);
  }
  return node;
}

export class OpenApiValidator {
  readonly operations = new Map<string, Operation>();
  private readonly ajv: Ajv2020;
  private readonly doc: Json;

  /**
   * closed: answers may hold no field the document does not name: every
   * schema with properties and no additionalProperties of its own is read as
   * unevaluatedProperties: false (so a field renamed or added on the server
   * alone fails). Open objects say so with additionalProperties.
   */
  constructor(source: Json, { closed = false }: { closed?: boolean } = {}) {
    const doc = closed ? closeSchemas(structuredClone(source)) : source;
    this.doc = doc;
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method] as Json | undefined;
        if (!op) continue;
        if (typeof op.operationId !== 'string') throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
        if (this.operations.has(op.operationId)) throw new Error(`operationId ${op.operationId} is used twice`);
        this.operations.set(op.operationId, { operationId: op.operationId, method: method.toUpperCase(), path, op });
      }
    }
    // strict: false: the document's schemas carry OpenAPI's own keywords (x-…), which Ajv would refuse.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    // ajv-formats is CommonJS: its function is the default export, or that export's default.
    const add = ((formats as { default?: { default?: unknown } }).default?.default ?? (formats as { default?: unknown }).default) as (ajv: unknown) => unknown;
    add(this.ajv);
    this.ajv.addSchema(doc, 'openapi');
  }

  /** The operation a request reached: templates with fewer parameters win (/dead/retry over /dead/{id}). */
  match(method: string, pathname: string): Operation | undefined {
    const candidates = [...this.operations.values()].filter((o) => {
      if (o.method !== method.toUpperCase()) return false;
      const re = new RegExp(`^${o.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
      return re.test(pathname);
    });
    return candidates.sort((a, b) => a.path.split('{').length - b.path.split('{').length)[0];
  }

  private resolve(node: Json): { node: Json; at: string } | undefined {
    if (typeof node?.$ref === 'string') {
      const at = node.$ref as string;
      const parts = at.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      let v: any = this.doc;
      for (const p of parts) v = v?.[p];
      return v ? { node: v, at } : undefined;
    }
    return undefined;
  }

  /** The pointer of the schema of an operation's response for a status (exact, then 4XX/5XX, then default) and media type. */
  responseSchemaPointer(operationId: string, status: number, mediaType = 'application/json'): string | undefined {
    const o = this.operations.get(operationId);
    if (!o) throw new Error(`no operation ${operationId}`);
    const responses = o.op.responses as Json;
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses);
    if (!key) return undefined;
    let at = `#/paths/${pointer(o.path)}/${o.method.toLowerCase()}/responses/${key}`;
    let response = responses[key] as Json;
    const r = this.resolve(response);
    if (r) ({ node: response, at } = r);
    if (!response.content?.[mediaType]?.schema) return undefined;
    return `${at}/content/${pointer(mediaType)}/schema`;
  }

  /** Problems of a response body (an empty list: it matches); throws when the document has no such response. */
  responseErrors(operationId: string, status: number, body: unknown, mediaType = 'application/json'): string[] {
    const at = this.responseSchemaPointer(operationId, status, mediaType);
    if (!at) throw new Error(`${operationId} documents no ${mediaType} answer for status ${status}`);
    return this.check(at, body);
  }

  /** Problems of a request body against the operation's requestBody schema. */
  requestErrors(operationId: string, body: unknown): string[] {
    const o = this.operations.get(operationId);
    if (!o) throw new Error(`no operation ${operationId}`);
    if (!o.op.requestBody) return body === undefined ? [] : [`${operationId} takes no body`];
    return this.check(`#/paths/${pointer(o.path)}/${o.method.toLowerCase()}/requestBody/content/application~1json/schema`, body);
  }

  /** Problems of a value against a schema named by its pointer in the document. */
  check(at: string, value: unknown): string[] {
    const validate = this.ajv.getSchema(`openapi${at}`);
    if (!validate) throw new Error(`no schema at ${at}`);
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  }
}
