/**
 * Starts a module (TypeScript or JavaScript) on a worker thread, and reads what it posts in
 * order, one message at a time. The module reads what it was given as `workerData.data`.
 */
import { Worker } from 'node:worker_threads';
import { moduleUrl, runningBuild } from './modules.ts';

/** The thread runs from the build this process runs from, if it does (src/core/modules.ts). */
export function startWorker(module: URL, data: unknown): Worker {
  return new Worker(moduleUrl('core/worker-boot.mjs'), {
    workerData: { module: module.href, build: runningBuild(), data },
  });
}

/**
 * A worker thread and its messages, in the order it posted them. A thread that fails gives
 * `failed(err)` as its next message; one that ends gives `ended()` after all it posted. A signal
 * that fires posts `stop` to it. `close()` ends the thread.
 */
export class WorkerInbox<In, Out> {
  readonly #worker: Worker;
  readonly #queue: In[] = [];
  #wake: (() => void) | null = null;
  readonly #signal: AbortSignal | undefined;
  readonly #stop: () => void;

  constructor(
    module: URL,
    data: unknown,
    o: { failed: (err: Error) => In; ended: () => In; stop: Out; signal?: AbortSignal | undefined },
  ) {
    this.#worker = startWorker(module, data);
    const arrive = (m: In): void => {
      this.#queue.push(m);
      this.#wake?.();
    };
    this.#worker.on('message', arrive);
    this.#worker.on('error', (err) => arrive(o.failed(err)));
    // A thread that ended without saying so (killed): what it posted is all there is.
    this.#worker.on('exit', () => arrive(o.ended()));
    this.#signal = o.signal;
    this.#stop = () => this.post(o.stop);
    o.signal?.addEventListener('abort', this.#stop, { once: true });
    if (o.signal?.aborted) this.#stop();
  }

  /** The next message the thread posted, once there is one. */
  async next(): Promise<In> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = null;
    }
    return this.#queue.shift()!;
  }

  post(m: Out): void {
    this.#worker.postMessage(m);
  }

  async close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#stop);
    await this.#worker.terminate();
  }
}
