/**
 * The dashboard's typed client: web/src/generated/api-types.ts is what
 * openapi-typescript makes of the API's document (npm run gen:api, which
 * `npm test` runs first), and the dashboard reads every answer through it,
 * so a server change the dashboard does not follow fails `tsc -p web`.
 * Shown here on a copy of the dashboard's sources: the document without
 * a field the pages read (`kind` of /api/symbols) makes tsc fail, naming it.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi.ts';
import { ROUTES } from '../../src/api/routes.ts';
import { ROOT } from '../helpers/cli.ts';

const exec = promisify(execFile);
// Inside the checkout, so the copy resolves the dashboard's packages from node_modules.
const copy = join(ROOT, '.tmp', `web-drift-${process.pid}`);
afterAll(() => rmSync(copy, { recursive: true, force: true }));

const tsc = (project: string) =>
  exec(process.execPath, [
    join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '--noEmit',
    '-p',
    project,
  ]).then(
    () => ({ code: 0, out: '' }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? '' }),
  );

describe('the generated API types', () => {
  it('are the document’s (npm run gen:api --check)', async () => {
    const r = await exec(process.execPath, [
      '--import',
      'tsx',
      join(ROOT, 'scripts', 'gen-api-types.ts'),
      '--check',
    ]).then(
      () => 0,
      (err: { code?: number; stderr?: string }) => {
        throw new Error(err.stderr);
      },
    );
    expect(r).toBe(0);
  });

  it('make a server change the dashboard does not follow fail its type check', async () => {
    mkdirSync(copy, { recursive: true });
    cpSync(join(ROOT, 'web', 'src'), join(copy, 'src'), { recursive: true });
    cpSync(join(ROOT, 'web', 'tsconfig.json'), join(copy, 'tsconfig.json'));
    writeFileSync(join(copy, 'vite.config.ts'), 'export {};\n');
    // As it is, the copy type-checks.
    expect(await tsc(copy)).toEqual({ code: 0, out: '' });
    // The same document without `kind` in /api/symbols' answer.
    // biome-ignore lint/suspicious/noExplicitAny: a JSON document edited by path
    const doc = openApiDocument(ROUTES, '0.0.0') as Record<string, any>;
    const symbols =
      doc.paths['/api/symbols'].get.responses['200'].content['application/json'].schema;
    const item = symbols.properties.symbols.items;
    delete item.properties.kind;
    item.required = item.required.filter((k: string) => k !== 'kind');
    writeFileSync(
      join(copy, 'src', 'generated', 'api-types.ts'),
      astToString(await openapiTS(JSON.stringify(doc))),
    );
    const r = await tsc(copy);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/Property 'kind' does not exist/);
  }, 180_000);
});
