/**
 * QuestDB side by side: the same trades into a real QuestDB (scripts/services/questdb/start.sh,
 * the server from Maven Central on Java 17) over ILP on TCP, and into tickline's live path; then
 * trades → 1-minute bars by each (QuestDB's `SAMPLE BY 1m`, tickline's event-time aggregator) with
 * DuckDB's `time_bucket` over the stored trades as a third reference.
 *
 *   node --expose-gc --import tsx bench/questdb.bench.ts [trades]   (default 1M; QuestDB at
 *   TICKLINE_QUESTDB, default 127.0.0.1:19900, ILP on its port + 9)
 */
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Trade } from '../src/core/records.ts';
import { BarAggregator } from '../src/transform/trade-bars.ts';
import { benchLive, liveMessages } from './live.bench.ts';

interface FinnhubTrade {
  s: string;
  p: number;
  t: number;
  v: number;
  c?: string[];
}

export interface QuestDbResult {
  trades: number;
  /** QuestDB: the ILP bytes sent until `count()` shows every row (WAL applied), rows/s. */
  questdbRowsPerSec: number;
  /** tickline: the live path over the same trades as JSON messages (10 per message), trades/s. */
  ticklineTradesPerSec: number;
  /** trades → 1m bars, ms (best of 5): QuestDB's SAMPLE BY, tickline's aggregator, DuckDB. */
  questdbBarsMs: number;
  ticklineBarsMs: number;
  duckdbBarsMs: number;
  bars: { questdb: number; tickline: number; duckdb: number };
}

const trades = (messages: readonly string[]): FinnhubTrade[] =>
  messages.flatMap((m) => (JSON.parse(m) as { data: FinnhubTrade[] }).data);

/** The trades as ILP lines (what a QuestDB user's client sends), made before any clock starts. */
function ilp(ts: readonly FinnhubTrade[]): Buffer[] {
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  for (const t of ts) {
    lines.push(
      `trades,symbol=${t.s} price=${t.p},size=${t.v},conditions="${(t.c ?? []).join(',')}" ${t.t}000000\n`,
    );
    if (lines.length === 10_000) {
      chunks.push(Buffer.from(lines.join('')));
      lines = [];
    }
  }
  if (lines.length > 0) chunks.push(Buffer.from(lines.join('')));
  return chunks;
}

async function exec(http: string, sql: string): Promise<{ dataset: unknown[][]; count: number }> {
  const res = await fetch(`http://${http}/exec?query=${encodeURIComponent(sql)}`);
  const body = (await res.json()) as { dataset?: unknown[][]; count?: number; error?: string };
  if (!res.ok || body.error) throw new Error(`QuestDB: ${body.error ?? res.status} (${sql})`);
  return { dataset: body.dataset ?? [], count: body.count ?? 0 };
}

export async function questdbReachable(http: string): Promise<boolean> {
  try {
    await exec(http, 'select 1');
    return true;
  } catch {
    return false;
  }
}

async function questdbIngest(http: string, chunks: Buffer[], rows: number): Promise<number> {
  await exec(http, 'DROP TABLE IF EXISTS trades');
  await exec(
    http,
    'CREATE TABLE trades (symbol SYMBOL, price DOUBLE, size DOUBLE, conditions VARCHAR, ' +
      'timestamp TIMESTAMP) TIMESTAMP(timestamp) PARTITION BY DAY WAL',
  );
  const [host, port] = http.split(':') as [string, string];
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host, port: Number(port) + 9 }, async () => {
      for (const c of chunks) {
        if (!sock.write(c)) await new Promise((r) => sock.once('drain', r));
      }
      sock.end(resolve);
    });
    sock.on('error', reject);
  });
  // ILP over TCP has no acknowledgement: the rows count once the table shows them (asked back to
  // back: each count is a round trip of about a millisecond, the figure's resolution).
  for (;;) {
    const { dataset } = await exec(http, 'SELECT count() FROM trades');
    if (Number(dataset[0]?.[0]) >= rows) break;
  }
  return rows / ((performance.now() - t0) / 1000);
}

function best(runs: number, fn: () => unknown): number {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

async function bestAsync(runs: number, fn: () => Promise<unknown>): Promise<number> {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

export async function benchQuestDb(
  dir: string,
  n: number,
  http = process.env.TICKLINE_QUESTDB ?? '127.0.0.1:19900',
): Promise<QuestDbResult> {
  const messages = liveMessages(n, 10);
  const ts = trades(messages);
  const chunks = ilp(ts);
  const questdbRowsPerSec = await questdbIngest(http, chunks, ts.length);
  const file = join(dir, 'questdb-side.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  const live = await benchLive(dir, messages, { where: file });

  const sampleBy =
    'SELECT timestamp, symbol, first(price) AS open, max(price) AS high, min(price) AS low, ' +
    'last(price) AS close, sum(size) AS volume, count() AS trades FROM trades SAMPLE BY 1m';
  const qBars = (await exec(http, sampleBy)).count;
  const questdbBarsMs = await bestAsync(5, () => exec(http, sampleBy));

  const objects: Trade[] = ts.map((t, i) => ({
    symbol: t.s,
    ts: t.t,
    price: t.p,
    size: t.v,
    conditions: (t.c ?? []).join(','),
    tradeId: String(i),
    source: 'finnhub',
    payload: '',
    receivedAt: 0,
  }));
  let tBars = 0;
  (globalThis as { gc?: () => void }).gc?.();
  const ticklineBarsMs = best(5, () => {
    const agg = new BarAggregator({ intervals: ['1m'], allowedLatenessMs: 0 });
    const events = agg.add(objects);
    events.push(...agg.flush());
    tBars = events.filter((e) => e.kind === 'final').length;
  });

  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  const bucket =
    "SELECT time_bucket(INTERVAL '1 minute', ts) AS t, symbol, arg_min(price, ts) AS open, " +
    'max(price) AS high, min(price) AS low, arg_max(price, ts) AS close, sum(size) AS volume, ' +
    'count(*) AS trades FROM trades GROUP BY ALL';
  const dBars = (await conn.runAndReadAll(bucket)).currentRowCount;
  const duckdbBarsMs = await bestAsync(5, () => conn.runAndReadAll(bucket));
  conn.closeSync();
  db.closeSync();
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  await exec(http, 'DROP TABLE IF EXISTS trades');
  return {
    trades: ts.length,
    questdbRowsPerSec,
    ticklineTradesPerSec: live.tradesPerSec,
    questdbBarsMs,
    ticklineBarsMs,
    duckdbBarsMs,
    bars: { questdb: qBars, tickline: tBars, duckdb: dBars },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = join(import.meta.dirname, '.data');
  const n = Number(process.argv[2] ?? 1_000_000);
  console.log(JSON.stringify(await benchQuestDb(dir, n)));
}
