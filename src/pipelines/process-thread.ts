/**
 * The first two stages of the embedded live path on a worker thread: the source (made again here
 * from its ThreadSpec) and the process stage (quality rules, event-time bars), joined by an
 * in-process log of their own, as on the main thread. What the main thread gets, in order:
 * - per source batch, what is not trades (message and trade counts, source events, parse
 *   rejects, backfilled bars, raw responses);
 * - per processed batch, its output, valid trades as columns (their buffers transferred);
 * - the end (after the feed's end closed every window), or why the source failed first.
 *
 * The main thread publishes these into its log for the store stage and acknowledges each output's
 * trades; the source runs ahead of the acknowledgements by at most `aheadTrades`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Bar, Quarantined, RawResponse } from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import { TOPICS } from '../log/log.ts';
import { MemoryLog } from '../log/memory/memory-log.ts';
import type { LiveEvent, LiveSource, ThreadSpec } from '../sources/source.ts';
import { type TradeColumns, toColumns } from '../sources/trade-columns.ts';
import type { BarEvent } from '../transform/trade-bars.ts';
import {
  chunkBySymbol,
  chunkKey,
  chunkWeight,
  type FeedEnd,
  PROCESS_GROUP,
  type ProcessOutput,
  ProcessStage,
} from './process-stage.ts';

/** What the main thread gives the thread. */
export interface ProcessThreadData {
  source: ThreadSpec;
  symbols: string[];
  accept: string[] | null;
  intervals: Interval[];
  allowedLatenessMs: number;
  futureSkewMs: number;
  dedupWindowMs: number;
  outlier: { window: number; band: number; minSamples: number };
  queueRecords: number;
  aheadTrades: number;
}

/** What the thread posts. */
export type ProcessThreadMessage =
  | {
      kind: 'batch';
      messages: number;
      trades: number;
      events: LiveEvent[];
      rejects: Quarantined[];
      bars: Bar[];
      raw: RawResponse[];
    }
  | {
      kind: 'out';
      valid: TradeColumns;
      rejects: Quarantined[];
      duplicates: number;
      events: BarEvent[];
    }
  | { kind: 'failed'; message: string; retryable: boolean }
  | { kind: 'end' };

/** What the thread is told: trades the main thread took in, or stop reading the source. */
export type ProcessThreadControl = { ack: number } | { stop: true };

if (parentPort && (workerData as { data?: unknown } | null)?.data) {
  await runThread(workerData.data as ProcessThreadData);
}

async function runThread(d: ProcessThreadData): Promise<void> {
  const port = parentPort!;
  const post = (m: ProcessThreadMessage, transfer: ArrayBuffer[] = []): void =>
    port.postMessage(m, transfer);
  const stopping = new AbortController();
  let acked = 0;
  let wake: (() => void) | null = null;
  port.on('message', (m: ProcessThreadControl) => {
    if ('ack' in m) acked += m.ack;
    else stopping.abort();
    wake?.();
  });
  const mod = (await import(d.source.module)) as Record<string, new (o: unknown) => LiveSource>;
  const source = new mod[d.source.exportName]!(d.source.options);
  const log = new MemoryLog({ capacity: d.queueRecords });
  const stage = new ProcessStage({
    log,
    intervals: d.intervals,
    allowedLatenessMs: d.allowedLatenessMs,
    futureSkewMs: d.futureSkewMs,
    dedupWindowMs: d.dedupWindowMs,
    outlier: d.outlier,
    accept: d.accept ? new Set(d.accept) : null,
    barUpdates: false,
    onOutput: (out: ProcessOutput) => {
      const valid = toColumns(
        { messages: [], trades: out.valid, rejects: [], bars: [], raw: [], events: [] },
        [],
      );
      post(
        {
          kind: 'out',
          valid: valid.batch.trades,
          rejects: out.rejects,
          duplicates: out.duplicates,
          events: out.events,
        },
        valid.transfer,
      );
    },
  });
  await stage.start();
  let ingested = 0;
  const seen = new Set<string>();
  let failure: ProcessThreadMessage | null = null;
  try {
    for await (const batch of source.live(d.symbols, { signal: stopping.signal })) {
      // Ahead of what the main thread took by at most aheadTrades (a stop hands over the rest).
      while (ingested - acked > d.aheadTrades && !stopping.signal.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
      post({
        kind: 'batch',
        messages: batch.messages.length,
        trades: batch.trades.length,
        events: batch.events,
        rejects: batch.rejects,
        bars: batch.bars,
        raw: batch.raw,
      });
      const chunks = chunkBySymbol(batch.trades);
      for (const c of chunks) if (c.symbol) seen.add(c.symbol);
      ingested += batch.trades.length;
      await log.publish(TOPICS.rawTrades, chunks, chunkKey, chunkWeight);
    }
  } catch (err) {
    // What the source handed over before it failed is still processed.
    const e = err as Error & { retryable?: boolean };
    failure = { kind: 'failed', message: e.message, retryable: e.retryable === true };
  }
  // Nothing outside this thread carries the open windows on: the feed ends for every symbol.
  const ends: FeedEnd[] = [...new Set([...d.symbols, ...seen])].map((symbol) => ({
    end: true,
    symbol,
    source: source.name,
  }));
  await log.publish(TOPICS.rawTrades, ends, (e) => e.symbol);
  // Until the process stage took in and committed everything (as StreamPipeline's drain waits).
  while ((await log.lag(TOPICS.rawTrades, PROCESS_GROUP)) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await stage.close();
  await log.close();
  if (failure) post(failure);
  post({ kind: 'end' });
  port.unref();
}
