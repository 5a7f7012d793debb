/**
 * The Finnhub scanner against the JSON.parse path that makes the same trades
 * (`parseFinnhubJson`: JSON.parse, then a CandidateTrade per element), alternated round by round
 * on the same messages, and bare JSON.parse (no trades made) as the floor.
 *
 *   node --expose-gc --import tsx bench/finnhub-parse.ts [trades=1000000]
 */
import { parseFinnhubJson, parseFinnhubMessage } from '../src/sources/finnhub/finnhub-messages.ts';
import { emptyLiveBatch } from '../src/sources/source.ts';
import { liveMessages } from './live.bench.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const n = Number(process.argv[2] ?? 1_000_000);
const med = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
const fmt = (x: number): string => `${(x / 1e6).toFixed(2)}M`;

for (const per of [1, 10]) {
  const msgs = liveMessages(n, per);
  const run = (f: typeof parseFinnhubJson): number => {
    gc?.();
    const t = performance.now();
    let trades = 0;
    for (let i = 0; i < msgs.length; i += 1024) {
      const b = emptyLiveBatch();
      const end = Math.min(msgs.length, i + 1024);
      for (let k = i; k < end; k++) f(msgs[k]!, 0, 'finnhub', b);
      trades += b.trades.length;
    }
    return trades / ((performance.now() - t) / 1000);
  };
  const bare = (): number => {
    gc?.();
    const t = performance.now();
    let trades = 0;
    for (const m of msgs) trades += JSON.parse(m).data.length;
    return trades / ((performance.now() - t) / 1000);
  };
  const scan: number[] = [];
  const json: number[] = [];
  const floor: number[] = [];
  const ratio: number[] = [];
  for (let r = 0; r < 9; r++) {
    const a = run(parseFinnhubMessage);
    const b = run(parseFinnhubJson);
    scan.push(a);
    json.push(b);
    ratio.push(a / b);
    floor.push(bare());
  }
  console.log(
    `${per} trade(s) per message: scanner ${fmt(med(scan))} trades/s, JSON.parse path ${fmt(med(json))}, ` +
      `scanner / JSON.parse path ${med(ratio).toFixed(2)} (${Math.min(...ratio).toFixed(2)}–${Math.max(...ratio).toFixed(2)} over 9 rounds); ` +
      `bare JSON.parse (no trades made) ${fmt(med(floor))}`,
  );
}
