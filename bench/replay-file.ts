/**
 * Writes a replay file for the whole-process live-path comparisons: bare Finnhub trade messages
 * from the seeded simulator, one per line, as `tickline stream --source replay` reads them.
 *
 *   node --import tsx bench/replay-file.ts <trades> <out.ndjson> [symbols] [per message]
 *
 * `symbols`: a count (10 → the bench's ten tickers; any other count → S0001, S0002, …).
 * Prints the symbols as a comma-separated list (for `--symbols`).
 */
import { createWriteStream } from 'node:fs';
import { LIVE_SYMBOLS, liveMessages } from './live.bench.ts';

const trades = Number(process.argv[2] ?? 1_000_000);
const out = process.argv[3] ?? 'replay.ndjson';
const count = Number(process.argv[4] ?? 10);
const perMessage = Number(process.argv[5] ?? 10);
const symbols =
  count === 10
    ? LIVE_SYMBOLS
    : Array.from({ length: count }, (_, i) => `S${String(i + 1).padStart(4, '0')}`);
const file = createWriteStream(out);
for (const m of liveMessages(trades, perMessage, symbols)) {
  if (!file.write(`${m}\n`)) await new Promise<void>((r) => file.once('drain', () => r()));
}
await new Promise<void>((r) => file.end(() => r()));
console.log(symbols.join(','));
