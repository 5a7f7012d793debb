/** The OpenAPI 3.1 document, generated from the route list and its zod schemas. */
import { z } from 'zod';
import { ErrorSchema } from './api-schemas.ts';
import type { RouteDef } from './routes.ts';

type JsonSchema = Record<string, unknown>;

const schemaOf = (s: z.ZodType, io: 'input' | 'output'): JsonSchema =>
  z.toJSONSchema(s, { io, unrepresentable: 'any' }) as JsonSchema;

export function openApiDocument(routes: readonly RouteDef[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const q = schemaOf(r.query, 'input');
    const props = (q.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((q.required as string[] | undefined) ?? []);
    const parameters: Record<string, unknown>[] = Object.entries(props).map(([name, schema]) => ({
      name,
      in: 'query',
      required: required.has(name),
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      schema,
    }));
    const pathParams = r.params ? schemaOf(r.params, 'input') : null;
    for (const [name, schema] of Object.entries(
      (pathParams?.properties ?? {}) as Record<string, JsonSchema>,
    )) {
      parameters.push({ name, in: 'path', required: true, schema });
    }
    const content: Record<string, unknown> = {
      'application/json': { schema: schemaOf(r.response, 'output') },
    };
    for (const f of r.formats ?? []) {
      content[f] = {
        schema: { type: 'string', ...(f === 'text/csv' ? {} : { format: 'binary' }) },
      };
    }
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    paths[path] = {
      ...(paths[path] ?? {}),
      [r.method.toLowerCase()]: {
        summary: r.summary,
        ...(r.scope === 'admin' ? { description: 'Needs an admin API key.' } : {}),
        parameters,
        ...(r.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: schemaOf(r.body, 'input') } },
              },
            }
          : {}),
        responses: {
          [String(r.status ?? 200)]: { description: 'OK', content },
          400: {
            description: 'A parameter is wrong; the body names it and what is expected',
            content: { 'application/json': { schema: schemaOf(ErrorSchema, 'output') } },
          },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tickline API',
      version,
      description: 'Market data stored by tickline: bars, trades, quarantine, and the live path.',
    },
    paths,
  };
}

const esc = (s: string): string =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

/** A human page for the document: every path, its parameters and responses. Self-contained. */
export function docsPage(doc: JsonSchema): string {
  const paths = doc.paths as Record<
    string,
    Record<
      string,
      {
        summary: string;
        parameters: { name: string; required: boolean; description?: string; schema: JsonSchema }[];
      }
    >
  >;
  const sections = Object.entries(paths)
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => {
        const params = op.parameters
          .map(
            (p) =>
              `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <em>required</em>' : ''}</td><td>${esc(p.description ?? '')}</td><td><code>${esc(JSON.stringify(p.schema.enum ?? p.schema.type ?? ''))}</code></td></tr>`,
          )
          .join('');
        return `<section><h2><span class="m">${method.toUpperCase()}</span> <code>${esc(path)}</code></h2><p>${esc(op.summary)}</p>${params ? `<table><tr><th>parameter</th><th>meaning</th><th>type</th></tr>${params}</table>` : '<p>No parameters.</p>'}</section>`;
      }),
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tickline API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h2{font-size:1.05rem;margin:1.6rem 0 .3rem}.m{background:#0b6bcb;color:#fff;border-radius:4px;padding:0 .4rem;font-size:.8rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}</style></head>
<body><h1>tickline API</h1><p>The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1). Bad parameters answer 400 with <code>{"error","parameter","message"}</code>.</p>
${sections}</body></html>`;
}
