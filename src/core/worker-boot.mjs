// A worker thread's entry. From a build (bin/build.js), the thread records it, as bin/tickline.js
// does in the main thread, so the modules it loads by name come from the same build; from source,
// a TypeScript module is loaded through tsx (registered in this thread). Then the module named by
// the worker's data runs.
import { workerData } from 'node:worker_threads';

if (workerData.build) {
  globalThis[Symbol.for('tickline.built')] = workerData.build;
} else if (workerData.module.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.module);
