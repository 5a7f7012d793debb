/**
 * `tickline stream` as a child process on a replayed Finnhub session
 * (synthetic, seeded simulator): killed with SIGKILL mid-stream and
 * restarted on the same data dir, stopped with SIGTERM mid-stream, and run
 * to the end. No row is ever stored twice; SIGKILL loses at most the
 * documented window; SIGTERM loses nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../src/core/records.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { startCli } from '../helpers/cli.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import { diffBars, referenceBars, tradesIn } from '../helpers/live.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';
import { type FinnhubServer, startFinnhubServer } from '../helpers/ws-server.ts';

const SYMBOLS = ['AAPL', 'MSFT', 'TSLA'];
const gen = simulate({
  symbols: SYMBOLS,
  seed: 11,
  tradesPerSecond: 2_000,
  tradesPerMessage: 2,
  startTs: Date.UTC(2024, 4, 6, 14),
});
const SESSION = Array.from({ length: 20_000 }, () => gen.next().value!.text);
/** live.flushMs: the store is written at least this often. */
const FLUSH_MS = 250;

let server: FinnhubServer & { resume(): void };
let rest: ReplayServer;
let dir: string;

beforeAll(async () => {
  dir = tempDir();
  server = await startFinnhubServer({
    session: SESSION,
    burst: 40,
    pauseMs: 4,
    expectSubscriptions: 3,
  });
  rest = await startReplayServer(() => [{ body: fixture('finnhub/candle-no_data.json') }]);
});
afterAll(async () => {
  await server.close();
  await rest.close();
});

function stream() {
  return startCli(['stream', '--source', 'finnhub', '--symbols', SYMBOLS.join(',')], {
    FINNHUB_TOKEN: 'test-token',
    TICKLINE_FINNHUB_WS_URL: server.url,
    TICKLINE_FINNHUB_URL: rest.url,
    TICKLINE_DATA_DIR: dir,
  });
}

/** Resolves once `pred` holds (no time limit of its own: the test's timeout applies). */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 2));
}

const db = () => join(dir, 'tickline.duckdb');

/** Stored trade keys, and how many rows each table has beyond its distinct natural keys. */
async function stored() {
  return withDb(db(), async (q) => {
    const keys = await q(
      `SELECT symbol || '|' || epoch_ms(ts) || '|' || trade_id AS k FROM trades`,
    );
    const [dups] = await q(`SELECT
      (SELECT count(*) - count(DISTINCT (symbol, ts, trade_id)) FROM trades) AS trades,
      (SELECT count(*) - count(DISTINCT (symbol, interval, ts)) FROM bars) AS bars,
      (SELECT count(*) - count(DISTINCT id) FROM quarantine) AS quarantine`);
    const d = dups!;
    return {
      keys: new Set(keys.map((r) => String(r.k))),
      dups: { trades: Number(d.trades), bars: Number(d.bars), quarantine: Number(d.quarantine) },
    };
  });
}

const key = (t: { symbol: string; ts: number; tradeId: string }) =>
  `${t.symbol}|${t.ts}|${t.tradeId}`;

describe('tickline stream: crash and restart', () => {
  it('loses at most the documented window on SIGKILL, duplicates nothing on restart, and loses nothing on SIGTERM', async () => {
    // 1. SIGKILL mid-stream.
    const first = stream();
    await until(() => server.sent >= 10_000);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await first.done;
    const sentBeforeKill = server.sent;
    const afterKill = await stored();
    expect(afterKill.dups).toEqual({ trades: 0, bars: 0, quarantine: 0 });
    const sentTrades = SESSION.slice(0, sentBeforeKill).map((m, i) => ({
      i,
      trades: tradesIn([m]),
    }));
    let firstLost = -1;
    for (const { i, trades } of sentTrades) {
      if (trades.some((t) => !afterKill.keys.has(key(t)))) {
        firstLost = i;
        break;
      }
    }
    expect(afterKill.keys.size).toBeGreaterThan(0);
    // What a hard kill loses is a tail of what arrived (the writes not yet committed), never a
    // hole: per symbol, the stored trades are the first ones sent. (How long that tail is, in time,
    // is the flush interval plus the write in flight: a figure, printed, not asserted.)
    for (const symbol of SYMBOLS) {
      const sent = sentTrades.flatMap((m) => m.trades).filter((t) => t.symbol === symbol);
      const kept = sent.map((t) => afterKill.keys.has(key(t)));
      const firstMissing = kept.indexOf(false);
      expect(firstMissing === -1 || kept.slice(firstMissing).every((k) => !k), symbol).toBe(true);
    }
    const windowMs = firstLost < 0 ? 0 : killedAt - server.sentAt[firstLost]!;
    console.log(
      `SIGKILL: ${sentBeforeKill} messages sent, ${afterKill.keys.size} trades stored, ${windowMs} ms of trades lost (flush interval ${FLUSH_MS} ms)`,
    );

    // 2. Restart on the same data dir with the same replay; SIGTERM mid-stream loses nothing.
    const holdAt = 15_000;
    server.rewind(holdAt);
    const second = stream();
    await until(() => server.sent >= holdAt);
    second.child.kill('SIGTERM');
    const res = await second.done;
    expect(res.code, res.stderr).toBe(0);
    const afterTerm = await stored();
    expect(afterTerm.dups).toEqual({ trades: 0, bars: 0, quarantine: 0 });
    const wantSoFar = tradesIn(SESSION.slice(0, holdAt));
    expect(wantSoFar.filter((t) => !afterTerm.keys.has(key(t)))).toEqual([]);
    expect(afterTerm.keys.size).toBe(wantSoFar.length);

    // 3. Once more to the end: exactly the reference, nothing twice.
    server.rewind();
    const third = stream();
    await server.allSent;
    third.child.kill('SIGTERM');
    expect((await third.done).code).toBe(0);
    const want = tradesIn(SESSION);
    const end = await stored();
    expect(end.dups).toEqual({ trades: 0, bars: 0, quarantine: 0 });
    expect(end.keys).toEqual(new Set(want.map(key)));
    const bars = await withDb(db(), async (q) =>
      (
        await q(`SELECT symbol, interval, epoch_ms(ts) AS ts, open, high, low, close, volume, vwap,
          trade_count, source FROM bars`)
      ).map(
        (r): Bar => ({
          symbol: String(r.symbol),
          interval: r.interval as Bar['interval'],
          ts: Number(r.ts),
          open: Number(r.open),
          high: Number(r.high),
          low: Number(r.low),
          close: Number(r.close),
          volume: Number(r.volume),
          adjClose: null,
          source: String(r.source),
          vwap: Number(r.vwap),
          tradeCount: Number(r.trade_count),
        }),
      ),
    );
    expect(diffBars(bars, referenceBars(want, ['1s', '1m', '5m'], 'finnhub'))).toEqual([]);
  }, 180_000);
});
