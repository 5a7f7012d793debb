/**
 * The replay's worker thread: reads and parses the recording (replayBatches) and posts each
 * batch with its trades as columns, their buffers transferred. It runs ahead of the consumer by
 * at most the credit it was given, plus one per batch the consumer takes; told to stop, it posts
 * what it had read (as the replay on one thread yields it) and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SourceError } from '../../core/errors.ts';
import { toColumns } from '../trade-columns.ts';
import {
  type ReplayOptions,
  type ReplayThreadControl,
  type ReplayThreadMessage,
  replayBatches,
} from './replay-source.ts';

const port = parentPort!;
const given = workerData.data as { options: ReplayOptions; name: string; credit: number };
let credit = given.credit;
const stopping = new AbortController();
let wake: (() => void) | null = null;
port.on('message', (m: ReplayThreadControl) => {
  if ('credit' in m) credit += m.credit;
  else stopping.abort();
  wake?.();
});
const post = (m: ReplayThreadMessage, transfer: ArrayBuffer[] = []): void =>
  port.postMessage(m, transfer);

try {
  for await (const { batch, starts } of replayBatches(given.options, given.name, stopping.signal)) {
    while (credit <= 0 && !stopping.signal.aborted) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
    const columns = toColumns(batch, starts);
    credit--;
    post({ batch: columns.batch }, columns.transfer);
  }
  post({ end: true });
} catch (err) {
  post({
    error: (err as Error).message,
    retryable: err instanceof SourceError ? err.retryable : false,
  });
}
// Nothing more to say: the thread ends once what it posted is on its way.
port.unref();
