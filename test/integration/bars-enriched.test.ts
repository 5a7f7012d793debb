/**
 * Must-show 2: bars_enriched after a Yahoo backfill (TSLA, 3303 real daily
 * bars) matches an independent reference computed in SQL by DuckDB: window
 * functions for SMA, Bollinger and returns, and a recursive CTE for the
 * recursive indicators (EMA, MACD, RSI and ATR with Wilder smoothing).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/pipelines/ingest.ts';
import { YahooSource } from '../../src/sources/yahoo/yahoo-source.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import { ENRICHED_COLUMNS } from '../../src/transform/enrich.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const REFERENCE_SQL = `
WITH RECURSIVE s AS (
  SELECT (row_number() OVER (ORDER BY ts) - 1)::INTEGER AS i, ts, high AS h, low AS l, close AS c,
         lag(close) OVER (ORDER BY ts) AS pc
  FROM bars WHERE symbol = 'TSLA' AND interval = '1d'
),
r AS (
  SELECT i, c AS e12, c AS e26, 0::DOUBLE AS ag, 0::DOUBLE AS al, 0::DOUBLE AS atr FROM s WHERE i = 0
  UNION ALL
  SELECT s.i,
    CASE WHEN s.i < 11 THEN r.e12 + s.c WHEN s.i = 11 THEN (r.e12 + s.c) / 12 ELSE r.e12 + 2::DOUBLE / 13 * (s.c - r.e12) END,
    CASE WHEN s.i < 25 THEN r.e26 + s.c WHEN s.i = 25 THEN (r.e26 + s.c) / 26 ELSE r.e26 + 2::DOUBLE / 27 * (s.c - r.e26) END,
    CASE WHEN s.i < 14 THEN r.ag + greatest(s.c - s.pc, 0) WHEN s.i = 14 THEN (r.ag + greatest(s.c - s.pc, 0)) / 14
         ELSE (r.ag * 13 + greatest(s.c - s.pc, 0)) / 14 END,
    CASE WHEN s.i < 14 THEN r.al + greatest(s.pc - s.c, 0) WHEN s.i = 14 THEN (r.al + greatest(s.pc - s.c, 0)) / 14
         ELSE (r.al * 13 + greatest(s.pc - s.c, 0)) / 14 END,
    CASE WHEN s.i < 14 THEN r.atr + greatest(s.h - s.l, abs(s.h - s.pc), abs(s.l - s.pc))
         WHEN s.i = 14 THEN (r.atr + greatest(s.h - s.l, abs(s.h - s.pc), abs(s.l - s.pc))) / 14
         ELSE (r.atr * 13 + greatest(s.h - s.l, abs(s.h - s.pc), abs(s.l - s.pc))) / 14 END
  FROM r JOIN s ON s.i = r.i + 1
),
m AS (
  SELECT s.i, s.ts, s.c, s.pc,
    CASE WHEN s.i >= 11 THEN r.e12 END AS ema_12,
    CASE WHEN s.i >= 25 THEN r.e26 END AS ema_26,
    CASE WHEN s.i >= 25 THEN r.e12 - r.e26 END AS macd,
    CASE WHEN s.i >= 14 THEN (CASE WHEN r.ag + r.al = 0 THEN 50 ELSE 100 * r.ag / (r.ag + r.al) END) END AS rsi_14,
    CASE WHEN s.i >= 14 THEN r.atr END AS atr_14
  FROM s JOIN r USING (i)
),
sig AS (
  SELECT i, macd AS v FROM m WHERE i = 25
  UNION ALL
  SELECT m.i, CASE WHEN m.i < 33 THEN sig.v + m.macd WHEN m.i = 33 THEN (sig.v + m.macd) / 9
                   ELSE sig.v + 0.2::DOUBLE * (m.macd - sig.v) END
  FROM sig JOIN m ON m.i = sig.i + 1
)
SELECT m.i, m.ema_12, m.ema_26, m.macd,
  CASE WHEN m.i >= 33 THEN sig.v END AS macd_signal,
  CASE WHEN m.i >= 33 THEN m.macd - sig.v END AS macd_hist,
  m.rsi_14, m.atr_14,
  CASE WHEN m.i >= 19 THEN avg(m.c) OVER w20 END AS sma_20,
  CASE WHEN m.i >= 49 THEN avg(m.c) OVER w50 END AS sma_50,
  CASE WHEN m.i >= 199 THEN avg(m.c) OVER w200 END AS sma_200,
  CASE WHEN m.i >= 19 THEN avg(m.c) OVER w20 END AS bb_middle,
  CASE WHEN m.i >= 19 THEN avg(m.c) OVER w20 + 2 * stddev_pop(m.c) OVER w20 END AS bb_upper,
  CASE WHEN m.i >= 19 THEN avg(m.c) OVER w20 - 2 * stddev_pop(m.c) OVER w20 END AS bb_lower,
  m.c / m.pc - 1 AS return_1
FROM m LEFT JOIN sig USING (i)
WINDOW w20 AS (ORDER BY m.i ROWS 19 PRECEDING), w50 AS (ORDER BY m.i ROWS 49 PRECEDING),
       w200 AS (ORDER BY m.i ROWS 199 PRECEDING)
ORDER BY m.i`;

let server: ReplayServer;
let dir: string;
beforeAll(async () => {
  const body = fixture('yahoo/yahoo-chart-TSLA-1d-2010-06-29_2023-08-11-full-history.json');
  server = await startReplayServer(() => [{ body }]);
  dir = tempDir();
  const store = await openStoreAt(join(dir, 'db.duckdb'));
  try {
    const summary = await ingest(
      [
        {
          source: new YahooSource({ baseUrl: server.url }),
          request: { symbol: 'TSLA', interval: '1d', from: 0, to: Date.parse('2023-08-12') },
        },
      ],
      { store },
    );
    expect(summary.failed).toEqual([]);
  } finally {
    await store.close();
  }
});
afterAll(() => server.close());

describe('bars_enriched', () => {
  it('has every column of bars plus the indicators', async () => {
    await withDb(join(dir, 'db.duckdb'), async (sql) => {
      const cols = (await sql('SELECT column_name FROM (DESCRIBE bars_enriched)')).map(
        (c) => c.column_name,
      );
      expect(cols).toEqual([
        'symbol',
        'interval',
        'ts',
        'open',
        'high',
        'low',
        'close',
        'volume',
        'adj_close',
        'source',
        'ingested_at',
        'vwap',
        'trade_count',
        'backfilled',
        ...ENRICHED_COLUMNS,
      ]);
    });
  });

  it('matches the independent SQL reference to 1e-9 relative, NULL until each window is full', async () => {
    await withDb(join(dir, 'db.duckdb'), async (sql) => {
      const ref = await sql(REFERENCE_SQL);
      const ours = await sql(`SELECT * FROM bars_enriched WHERE symbol = 'TSLA' ORDER BY ts`);
      expect(ours.length).toBe(3303);
      expect(ref.length).toBe(ours.length);
      let compared = 0;
      for (let i = 0; i < ours.length; i++) {
        for (const c of ENRICHED_COLUMNS) {
          const a = ours[i]![c] as number | null;
          const b = ref[i]![c] as number | null;
          if (b === null) {
            expect(a, `${c} at ${i} should be NULL`).toBeNull();
            continue;
          }
          expect(a, `${c} at ${i}`).not.toBeNull();
          const err = Math.abs(a! - b) / Math.max(Math.abs(b), 1e-12);
          expect(err, `${c} at row ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(3303 * 13);
      // First full windows, as documented in README.
      const firstNonNull = Object.fromEntries(
        ENRICHED_COLUMNS.map((c) => [c, ours.findIndex((r) => r[c] !== null)]),
      );
      expect(firstNonNull).toEqual({
        sma_20: 19,
        sma_50: 49,
        sma_200: 199,
        ema_12: 11,
        ema_26: 25,
        macd: 25,
        macd_signal: 33,
        macd_hist: 33,
        rsi_14: 14,
        bb_middle: 19,
        bb_upper: 19,
        bb_lower: 19,
        atr_14: 14,
        return_1: 1,
      });
    });
  });
});
