// The CLI's build: tickline's TypeScript bundled into a few JavaScript files by esbuild, so a
// command starts without compiling and resolving its ~200 modules one by one through tsx's
// loader hooks (about a second of CPU per process and per worker thread).
//
// A build lives in its own directory under the cache, named by a manifest that lists every
// source file it was made from with its modification time and size. A build is used while none of those
// files changed; otherwise a new one is made (about 0.2 s). A new source file can only matter once
// a listed file imports it, which changes that file. Builds are written whole and then named by
// renaming the manifest into place, so processes starting together never read half a build. A
// build no process has used for a day is removed (a running process renews its build's time).
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Modules started on their own (the CLI, and what worker threads load by name). */
export const ENTRIES = [
  'cli/main.ts',
  'pipelines/process-thread.ts',
  'sources/replay/replay-thread.ts',
  'sources/replay/replay-source.ts',
];

/** Files copied as they are (a worker thread's first module is plain JavaScript). */
export const COPIED = ['core/worker-boot.mjs'];

const KEEP_MS = 24 * 3600_000;

/**
 * The directory URL of a build of `src` that is current, made if needed; null when none can be
 * made here (no esbuild, a cache that cannot be written): the caller runs from source then.
 */
export async function ensureBuilt({ src, cache, entries = ENTRIES, copied = COPIED }) {
  const manifestPath = join(cache, 'manifest.json');
  const current = await readManifest(manifestPath);
  if (current && (await isDir(join(cache, current.id))) && (await unchanged(src, current.inputs))) {
    return pathToFileURL(join(cache, current.id, '/')).href;
  }
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return null;
  }
  const id = `${Date.now().toString(36)}-${process.pid}`;
  const out = join(cache, id);
  try {
    await mkdir(out, { recursive: true });
    const started = Date.now();
    const result = await esbuild.build({
      absWorkingDir: src,
      entryPoints: entries.map((e) => join(src, e)),
      outbase: src,
      outdir: out,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      entryNames: '[dir]/[name]',
      chunkNames: 'chunks/[name]-[hash]',
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'silent',
    });
    for (const c of copied) {
      await mkdir(join(out, c, '..'), { recursive: true });
      await writeFile(join(out, c), await readFile(join(src, c)));
    }
    const inputs = {};
    let settled = true;
    for (const f of [...Object.keys(result.metafile.inputs), ...copied]) {
      const rel = relative(src, join(src, f));
      // Packages are resolved when the build runs, not bundled: only our own files are listed.
      if (rel.startsWith('..') || rel.includes('node_modules')) continue;
      const st = await stat(join(src, rel));
      inputs[rel] = fileMark(st);
      // Changed while the build read it: this build serves this process only.
      if (st.mtimeMs >= started) settled = false;
    }
    if (settled) {
      const tmp = `${manifestPath}.${id}`;
      await writeFile(tmp, JSON.stringify({ id, inputs }));
      await rename(tmp, manifestPath);
    }
  } catch {
    await rm(out, { recursive: true, force: true }).catch(() => undefined);
    return null;
  }
  await prune(cache, id);
  return pathToFileURL(join(out, '/')).href;
}

async function isDir(path) {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/**
 * Keeps a build from being pruned while this process runs from it: its directory's time is
 * renewed every hour (a server may load modules lazily days after it started).
 */
export function holdBuild(root) {
  const dir = fileURLToPath(root);
  const touch = () => {
    const now = new Date();
    utimes(dir, now, now).catch(() => undefined);
  };
  touch();
  setInterval(touch, 3600_000).unref();
}

async function readManifest(path) {
  try {
    const m = JSON.parse(await readFile(path, 'utf8'));
    return typeof m.id === 'string' && m.inputs && typeof m.inputs === 'object' ? m : null;
  } catch {
    return null;
  }
}

/** Whether every file the build was made from is still as it was. */
async function unchanged(src, inputs) {
  const files = Object.entries(inputs);
  if (files.length === 0) return false;
  const marks = await Promise.all(
    files.map(([rel]) =>
      stat(join(src, rel)).then(
        (s) => fileMark(s),
        () => '',
      ),
    ),
  );
  return files.every(([, mark], i) => marks[i] === mark);
}

/** A file as the build saw it: its modification time and size. */
function fileMark(s) {
  return `${s.mtimeMs}:${s.size}`;
}

/** Removes builds (and manifests a crash left half made) other than `keep` unused for a day. */
async function prune(cache, keep) {
  const now = Date.now();
  for (const name of await readdir(cache).catch(() => [])) {
    if (name === keep || name === 'manifest.json') continue;
    const s = await stat(join(cache, name)).catch(() => null);
    if (s && now - s.mtimeMs > KEEP_MS) {
      await rm(join(cache, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
