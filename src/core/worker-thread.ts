/**
 * Starts a module (TypeScript or JavaScript) on a worker thread. The module reads what it was
 * given as `workerData.data`.
 */
import { Worker } from 'node:worker_threads';

const BOOT = new URL('./worker-boot.mjs', import.meta.url);

export function startWorker(module: URL, data: unknown): Worker {
  return new Worker(BOOT, { workerData: { module: module.href, data } });
}
