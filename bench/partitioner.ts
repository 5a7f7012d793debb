/**
 * How a partitioner spreads realistic symbol sets over partitions and
 * workers: tickline's (murmur2 of the symbol modulo the partition count,
 * Kafka's default: src/log/log.ts) beside the FNV-1a it used before, on the
 * same symbols. Run: `npx tsx bench/partitioner.ts`.
 *
 * A worker's share is what it processes when W workers split P partitions
 * round-robin, each symbol weighing the same (real feeds are more skewed:
 * one busy symbol is one partition's load whatever the hash).
 */
import { murmur2 } from '../src/log/log.ts';

/** FNV-1a of the UTF-16 code units (tickline's partitioner before this release), positive. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// Public index memberships, as commonly listed (tickers only).
const DOW30 =
  'AAPL AMGN AMZN AXP BA CAT CRM CSCO CVX DIS GS HD HON IBM JNJ JPM KO MCD MMM MRK MSFT NKE NVDA PG SHW TRV UNH V VZ WMT'.split(
    ' ',
  );
const NASDAQ100 =
  'AAPL ABNB ADBE ADI ADP ADSK AEP AMAT AMD AMGN AMZN ANSS ARM ASML AVGO AXON AZN BIIB BKNG BKR CCEP CDNS CDW CEG CHTR CMCSA COST CPRT CRWD CSCO CSGP CSX CTAS CTSH DASH DDOG DXCM EA EXC FANG FAST FTNT GEHC GFS GILD GOOG GOOGL HON IDXX INTC INTU ISRG KDP KHC KLAC LIN LRCX LULU MAR MCHP MDB MDLZ MELI META MNST MRVL MSFT MSTR MU NFLX NVDA NXPI ODFL ON ORLY PANW PAYX PCAR PDD PEP PLTR PYPL QCOM REGN ROP ROST SBUX SNPS TEAM TMUS TSLA TTD TTWO TXN VRSK VRTX WBD WDAY XEL ZS'.split(
    ' ',
  );
const CRYPTO = 'BTCUSDT ETHUSDT SOLUSDT BNBUSDT XRPUSDT DOGEUSDT ADAUSDT AVAXUSDT LINKUSDT DOTUSDT'
  .split(' ')
  .map((s) => `BINANCE:${s}`);
const SETS: [string, string[]][] = [
  ['README demo (AAPL, MSFT, TSLA)', ['AAPL', 'MSFT', 'TSLA']],
  [
    '12 large caps (the Kafka tests)',
    'AAPL MSFT TSLA NVDA AMZN META GOOG SPY QQQ AMD NFLX INTC'.split(' '),
  ],
  ['crypto pairs (10)', CRYPTO],
  ['Dow 30', DOW30],
  ['Nasdaq-100', NASDAQ100],
];

function spread(
  symbols: string[],
  partitions: number,
  workers: number,
  hash: (s: string) => number,
) {
  const perPartition = new Array<number>(partitions).fill(0);
  for (const s of symbols) perPartition[hash(s) % partitions]!++;
  const perWorker = new Array<number>(workers).fill(0);
  perPartition.forEach((n, p) => {
    perWorker[p % workers]! += n;
  });
  const busiest = Math.max(...perWorker);
  return {
    perPartition,
    /** The busiest worker's load over an even split: 1.00 is perfect, 2.00 means one worker idles (of two). */
    imbalance: busiest / (symbols.length / workers),
  };
}

console.log(
  "| symbols | partitions × workers | FNV-1a (before): symbols per partition | busiest worker ÷ even share | murmur2 (now; Kafka's default): per partition | busiest ÷ even |",
);
console.log('|---|---|---|---:|---|---:|');
for (const [name, symbols] of SETS) {
  for (const [p, w] of [
    [6, 2],
    [6, 3],
    [12, 2],
  ] as const) {
    const a = spread(symbols, p, w, fnv1a);
    const b = spread(symbols, p, w, murmur2);
    console.log(
      `| ${name} | ${p} × ${w} | ${a.perPartition.join(' ')} | ${a.imbalance.toFixed(2)} | ${b.perPartition.join(' ')} | ${b.imbalance.toFixed(2)} |`,
    );
  }
}
