// A worker thread's entry: a TypeScript module is loaded through tsx (registered in this thread,
// as bin/tickline.js does in the main one), then the module named by the worker's data runs.
import { workerData } from 'node:worker_threads';

if (workerData.module.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.module);
