/** Runs the stream pipeline for a CLI command, with the live status line on a terminal. */
import type { Config } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';
import { applyHeapGrowth } from '../core/heap.ts';
import {
  STREAM_STAGES,
  type StreamEvent,
  StreamPipeline,
  type StreamStage,
  type StreamStats,
} from '../pipelines/stream.ts';
import type { LiveSource } from '../sources/source.ts';
import type { Store } from '../store/store.ts';
import { parseChoice } from './args.ts';
import { openLog } from './open-log.ts';

export interface LiveRunOptions {
  cfg: Config;
  /** Needed when this process runs the store stage. */
  store?: Store;
  /** Needed when this process runs the ingest stage. */
  source?: LiveSource;
  /** The stages this process runs (default: all). */
  stages?: readonly StreamStage[];
  symbols: readonly string[];
  accept: ReadonlySet<string> | null;
  stop: AbortController;
  durationArg?: string | undefined;
  onEvent?: (e: StreamEvent) => void;
  /** Called with the pipeline before it starts (to serve or watch it). */
  onPipeline?: (p: StreamPipeline, logKind: string) => void;
  /** Told each store write's duration (ms) and rows. */
  onFlush?: (ms: number, rows: number) => void;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** `--stages ingest,process,store`: a non-empty list of stages, each named at most once. */
export function parseStages(
  value: string | undefined,
  dflt: readonly StreamStage[],
): StreamStage[] {
  if (value === undefined) return [...dflt];
  const list = value.split(',').map((s) => s.trim());
  const stages = list.map((s) => parseChoice('--stages', s, STREAM_STAGES, 'ingest'));
  if (stages.length === 0 || new Set(stages).size !== stages.length) {
    throw new UsageError('--stages', `"${value}": list ingest, process and/or store, each once`);
  }
  return stages;
}

/** `--log memory|kafka` overrides the config's log.kind. */
export function applyLogFlag(cfg: Config, value: string | undefined): void {
  if (value === undefined) return;
  cfg.log.kind = parseChoice('--log', value, ['memory', 'kafka'] as const, 'memory');
}

export async function runLive(o: LiveRunOptions): Promise<StreamStats> {
  if (o.durationArg !== undefined) {
    const s = Number(o.durationArg);
    if (!(Number.isFinite(s) && s > 0)) {
      throw new UsageError('--duration', `"${o.durationArg}" is not a positive number of seconds`);
    }
    setTimeout(() => o.stop.abort(), s * 1000).unref();
  }
  const stages = o.stages ?? STREAM_STAGES;
  if (o.cfg.log.kind === 'memory' && stages.length < STREAM_STAGES.length) {
    throw new UsageError(
      '--stages',
      'running only some stages needs a log shared between processes (--log kafka)',
    );
  }
  applyHeapGrowth(o.cfg.live.heapGrowthPercent);
  const log = await openLog(o.cfg);
  let feed = stages.includes('ingest') ? 'starting' : `worker: ${stages.join(', ')}`;
  const pipeline = new StreamPipeline({
    ...(o.source ? { source: o.source } : {}),
    ...(o.store ? { store: o.store } : {}),
    stages,
    symbols: o.symbols,
    log,
    live: o.cfg.live,
    futureSkewMs: o.cfg.quality.futureSkewMs,
    accept: o.accept,
    signal: o.stop.signal,
    ...(o.onFlush ? { onFlush: o.onFlush } : {}),
    // Forming bars go nowhere without a listener (the server's hub).
    barUpdates: o.onEvent !== undefined,
    onEvent: (e) => {
      if (e.kind === 'source') {
        const ev = e.event;
        if (ev.kind === 'connected')
          feed = o.source?.name === 'simulator' ? 'simulating' : 'connected';
        else if (ev.kind === 'market_closed')
          feed = `market closed${ev.nextOpen ? `: next trades at ${new Date(ev.nextOpen).toISOString().slice(0, 16)}Z` : ''} (--hours always simulates anyway)`;
        else if (ev.kind === 'disconnected') feed = `reconnecting (${ev.reason})`;
        else if (ev.kind === 'stale')
          feed = `stale: no trade for ${Math.round(ev.silentMs / 1000)} s`;
        if (
          ev.kind === 'error' ||
          ev.kind === 'gap_filled' ||
          ev.kind === 'stale' ||
          ev.kind === 'market_closed'
        ) {
          const text =
            ev.kind === 'gap_filled'
              ? `gap filled for ${ev.symbol}: ${ev.bars} backfilled 1m bars`
              : ev.kind === 'error'
                ? `source error: ${ev.message}`
                : feed;
          process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}tickline: ${text}\n`);
        }
      }
      o.onEvent?.(e);
    },
  });
  o.onPipeline?.(pipeline, log.kind);
  let status: NodeJS.Timeout | undefined;
  if (process.stderr.isTTY) {
    let lastTrades = 0;
    let lastAt = Date.now();
    status = setInterval(() => {
      void pipeline.backlog().then((queued) => {
        const s = pipeline.stats;
        const now = Date.now();
        const rate = ((s.tradesValid - lastTrades) * 1000) / Math.max(1, now - lastAt);
        lastTrades = s.tradesValid;
        lastAt = now;
        const rejects = Object.values(s.rejectsByRule).reduce((a, b) => a + b, 0);
        const lag = s.store.lastStoredReceivedAt ? now - s.store.lastStoredReceivedAt : 0;
        process.stderr.write(
          `\r\x1b[K${fmt(rate)} trades/s | ${fmt(s.tradesValid)} trades | ${fmt(s.barsClosed)} bars | ${fmt(rejects)} rejects | ${fmt(s.duplicates)} dups | lag ${fmt(lag)} ms (${fmt(queued)} queued) | ${feed}`,
        );
      });
    }, 1_000);
  }
  try {
    return await pipeline.run();
  } finally {
    if (status) {
      clearInterval(status);
      process.stderr.write('\r\x1b[K');
    }
    await log.close();
  }
}
