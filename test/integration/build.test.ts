/**
 * The CLI's build (bin/build.js): made once, used while its sources are as they were, made
 * again when one changes; and every module tickline loads by name is one the build makes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JS module beside bin/tickline.js
import { COPIED, ENTRIES, ensureBuilt, holdBuild } from '../../bin/build.js';
import { ROOT } from '../helpers/cli.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function project(): Promise<{ src: string; cache: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tickline-build-'));
  dirs.push(dir);
  const src = join(dir, 'src');
  await import('node:fs/promises').then((fs) => fs.mkdir(join(src, 'lib'), { recursive: true }));
  await writeFile(
    join(src, 'main.ts'),
    "import { word } from './lib/word.ts';\nexport const said: string = word();\n",
  );
  await writeFile(
    join(src, 'lib', 'word.ts'),
    "export function word(): string { return 'one'; }\n",
  );
  await writeFile(join(src, 'boot.mjs'), 'export const boot = 1;\n');
  return { src, cache: join(dir, 'cache') };
}

const build = (p: { src: string; cache: string }): Promise<string | null> =>
  ensureBuilt({ ...p, entries: ['main.ts'], copied: ['boot.mjs'] });

describe('the CLI build', () => {
  it('is made once, reused while its sources stand, and made again when one changes', async () => {
    const p = await project();
    const first = await build(p);
    expect(first).not.toBeNull();
    expect((await import(new URL('main.js', first!).href)).said).toBe('one');
    expect(await readFile(new URL('boot.mjs', first!), 'utf8')).toContain('boot = 1');
    // Nothing changed: the same build.
    expect(await build(p)).toBe(first);
    // A file the entry imports changes: a new build, with the change in it.
    await writeFile(
      join(p.src, 'lib', 'word.ts'),
      "export function word(): string { return 'two'; }\n",
    );
    const past = new Date(Date.now() - 60_000);
    await utimes(join(p.src, 'lib', 'word.ts'), past, past);
    const second = await build(p);
    expect(second).not.toBe(first);
    expect((await import(new URL('main.js', second!).href)).said).toBe('two');
    // An edit that keeps the file's time (a copy that preserves times) still shows in its size.
    const word = join(p.src, 'lib', 'word.ts');
    const before = await stat(word);
    await writeFile(word, "export function word(): string { return 'three'; }\n");
    await utimes(word, before.atime, before.mtime);
    const third = await build(p);
    expect(third).not.toBe(second);
    expect((await import(new URL('main.js', third!).href)).said).toBe('three');
    // The manifest names the new build; the old one stays for processes still loading from it.
    const manifest = JSON.parse(await readFile(join(p.cache, 'manifest.json'), 'utf8'));
    expect(third).toContain(manifest.id);
    expect(Object.keys(manifest.inputs).sort()).toEqual(['boot.mjs', 'lib/word.ts', 'main.ts']);
    expect((await readdir(p.cache)).filter((n) => n !== 'manifest.json')).toHaveLength(3);
  });

  it('makes a build again when its directory is gone, and removes builds unused for a day', async () => {
    const p = await project();
    const first = await build(p);
    await rm(new URL(first!), { recursive: true });
    const second = await build(p);
    expect(second).not.toBe(first);
    expect((await import(new URL('main.js', second!).href)).said).toBe('one');
    // A build unused for two days goes at the next build; one a process holds stays.
    const old = new Date(Date.now() - 2 * 86_400_000);
    await utimes(new URL(second!), old, old);
    await writeFile(join(p.src, 'main.ts'), "export const said: string = 'three';\n");
    const past = new Date(Date.now() - 60_000);
    await utimes(join(p.src, 'main.ts'), past, past);
    const third = await build(p);
    expect(await readdir(p.cache)).toEqual(
      expect.not.arrayContaining([second!.split('/').filter(Boolean).pop()]),
    );
    await utimes(new URL(third!), old, old);
    holdBuild(third!);
    await writeFile(join(p.src, 'main.ts'), "export const said: string = 'four';\n");
    await utimes(join(p.src, 'main.ts'), past, new Date(Date.now() - 30_000));
    const fourth = await build(p);
    const kept = await readdir(p.cache);
    for (const b of [third!, fourth!]) expect(kept).toContain(b.split('/').filter(Boolean).pop());
  });

  it('gives null (the CLI runs from source) when the sources do not build', async () => {
    const p = await project();
    await writeFile(
      join(p.src, 'main.ts'),
      "import { nothing } from './lib/missing.ts';\nexport const x = nothing;\n",
    );
    expect(await build(p)).toBeNull();
  });

  it('makes every module tickline starts by name (moduleUrl) or copies it', async () => {
    const files = execFileSync('git', ['ls-files', 'src'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.ts$/.test(f) && !f.endsWith('.test.ts'));
    const named = new Set<string>();
    for (const f of files) {
      for (const m of (await readFile(join(ROOT, f), 'utf8')).matchAll(/moduleUrl\('([^']+)'\)/g)) {
        named.add(m[1]!);
      }
    }
    expect(named.size).toBeGreaterThanOrEqual(3);
    for (const n of named) expect([...ENTRIES, ...COPIED]).toContain(n);
  });
});
