/**
 * Every answer an API test gets, held to the OpenAPI document: its status
 * must be one the operation documents, and a JSON body must validate
 * against the documented schema (ajv, JSON Schema 2020-12 as zod writes it).
 */

import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

type Json = Record<string, unknown>;

/** The document with its `#/components/schemas/…` references put in place. */
function inline(node: unknown, components: Json): unknown {
  if (Array.isArray(node)) return node.map((n) => inline(n, components));
  if (!node || typeof node !== 'object') return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
    return inline(components[ref.slice('#/components/schemas/'.length)], components);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v, components)]));
}

export class ResponseChecker {
  readonly #paths: { re: RegExp; ops: Record<string, { responses: Record<string, Json> }> }[];
  readonly #ajv = new Ajv2020({ allErrors: true, strict: false });
  readonly #compiled = new Map<string, ValidateFunction>();
  /** Operations and statuses seen, as `GET /api/bars 200`. */
  readonly seen = new Set<string>();

  constructor(doc: Json) {
    const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (
      a: Ajv2020,
    ) => Ajv2020;
    addFormats(this.#ajv);
    const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Json;
    const paths = inline(doc.paths, components) as Record<
      string,
      Record<string, { responses: Record<string, Json> }>
    >;
    this.#paths = Object.entries(paths).map(([template, ops]) => ({
      re: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
      ops: Object.fromEntries(Object.entries(ops).map(([m, op]) => [m.toUpperCase(), op])),
      template,
    }));
  }

  /** What is wrong with an answer, or null when the document describes it. */
  check(
    method: string,
    url: string,
    status: number,
    contentType: string,
    body: string,
  ): string | null {
    const path = url.split('?')[0]!;
    // The reference page, the document itself and the WebSocket are not REST operations.
    if (
      !path.startsWith('/api/') ||
      ['/api/docs', '/api/openapi.json', '/api/stream'].includes(path)
    )
      return null;
    const found = this.#paths.find((p) => p.re.test(path));
    const m = method === 'HEAD' ? 'GET' : method;
    const op = found?.ops[m];
    // A path or method the document does not have is answered 404 (no such route).
    // A path the document does not have is answered 404 (no such route); a method it does not
    // have on a path it has, 404 too, or 401/403 first (authorisation denies by default).
    if (!found) {
      return status === 404 ? null : `${method} ${path} answered ${status} but is not documented`;
    }
    if (!op) {
      return [401, 403, 404].includes(status)
        ? null
        : `${method} ${path} answered ${status}, a method not documented`;
    }
    const where = `${method} ${(found as unknown as { template: string }).template} ${status}`;
    this.seen.add(where);
    const response = op.responses[String(status)];
    if (!response) return `${where}: the status is not documented`;
    if (method === 'HEAD' || !contentType.includes('application/json')) return null;
    const schema = (
      (response.content as Json | undefined)?.['application/json'] as Json | undefined
    )?.schema;
    if (!schema) return `${where}: answered JSON, which is not documented`;
    let validate = this.#compiled.get(where);
    if (!validate) {
      validate = this.#ajv.compile(schema as Json);
      this.#compiled.set(where, validate);
    }
    if (validate(JSON.parse(body))) return null;
    return `${where}: ${this.#ajv.errorsText(validate.errors, { dataVar: 'body' })}`;
  }
}
