/**
 * Where tickline's own files are, whether it runs from source (TypeScript through tsx, as tests
 * and benches do) or from the build bin/tickline.js made (bin/build.js). A module that a worker
 * thread loads by name, or a file read at run time, is found here rather than next to the
 * caller's `import.meta.url`: in a build, the caller's code sits in a shared chunk.
 *
 * bin/tickline.js records the build's root in a global; a worker thread gets it through its
 * workerData (startWorker), so the whole process runs from one build.
 */
const BUILT = Symbol.for('tickline.built');

/** A build: its directory, and the package's root directory (URLs ending in '/'). */
export interface Build {
  root: string;
  pkg: string;
}

/** The build this process runs from, or undefined (from source). */
export function runningBuild(): Build | undefined {
  return (globalThis as Record<symbol, Build | undefined>)[BUILT];
}

/** Records the build this process (or worker thread) runs from. */
export function runFromBuild(build: Build): void {
  (globalThis as Record<symbol, Build | undefined>)[BUILT] = build;
}

/**
 * A module of ours by its path under src/ ('pipelines/process-thread.ts'): the TypeScript file,
 * or its JavaScript in the build (an entry of bin/build.js's ENTRIES or COPIED).
 */
export function moduleUrl(path: string): URL {
  const built = runningBuild();
  return built
    ? new URL(path.replace(/\.ts$/, '.js'), built.root)
    : new URL(`../${path}`, import.meta.url);
}

/** A file of the package by its path from the package's root ('web/dist'). */
export function packagePath(path: string): URL {
  return new URL(path, runningBuild()?.pkg ?? new URL('../../', import.meta.url));
}
