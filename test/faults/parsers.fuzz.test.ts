/**
 * Seeded fuzzing (fast-check) of every parser that reads outside input: the
 * Finnhub message scanner and its JSON.parse fallback, the CSV bar reader,
 * and the Yahoo chart parser, each followed by the quality rules. No input
 * may crash, hang or vanish: every message or line ends as records (which
 * the rules then accept or quarantine) or as a quarantined record, and
 * every quarantined payload is text within the payload limit.
 *
 * Inputs are mutations of real recorded messages and rows (inserted,
 * deleted and replaced characters, deep nesting, huge numbers, NUL, BOM,
 * lone surrogates, quotes and newlines, other delimiters) and arbitrary
 * JSON and strings. TICKLINE_FAULT_SEED replays a failure.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../../src/core/errors.ts';
import { MAX_PAYLOAD_CHARS } from '../../src/core/limits.ts';
import { payloadText } from '../../src/core/records.ts';
import { BarValidator } from '../../src/quality/bar-validator.ts';
import { TradeValidator } from '../../src/quality/trade-validator.ts';
import { parseBarsCsv } from '../../src/sources/csv/csv-format.ts';
import { parseFinnhubMessage } from '../../src/sources/finnhub/finnhub-messages.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { emptyLiveBatch } from '../../src/sources/source.ts';
import { parseYahooChart } from '../../src/sources/yahoo/yahoo-parse.ts';
import { fixture } from '../helpers/replay-server.ts';

const require = createRequire(import.meta.url);
const SEED = Number(process.env.TICKLINE_FAULT_SEED ?? 20261206);
const RUNS = Number(process.env.TICKLINE_FUZZ_RUNS ?? 2_000);

/** Pieces that broke parsers elsewhere: nesting, huge numbers, control and odd characters. */
const NASTY = [
  '\u0000',
  '\ufeff',
  '\ud800',
  '"',
  '""',
  '\\',
  '\\u0000',
  '\n',
  '\r\n',
  ',',
  ';',
  '\t',
  '{',
  '[',
  '}',
  ']',
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '0x0A',
  'NaN',
  '-0',
  'null',
  '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
  '{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1',
  'A'.repeat(300),
];

/** A string changed at a few places: characters inserted, deleted or replaced by nasty pieces. */
function mutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.record({
    at: fc.nat(),
    del: fc.nat({ max: 4 }),
    ins: fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 6 }), fc.constant('')),
  });
  return fc.tuple(base, fc.array(edit, { maxLength: 4 })).map(([s, edits]) => {
    let out = s;
    for (const e of edits) {
      const at = out.length === 0 ? 0 : e.at % (out.length + 1);
      out = out.slice(0, at) + e.ins + out.slice(at + e.del);
    }
    return out;
  });
}

const gen = simulate({ symbols: ['AAPL', 'BINANCE:BTCUSDT'], seed: 3, tradesPerMessage: 3 });
const recorded = [
  ...fixture('finnhub/ws-trades-AAPL-2020-04-14.jsonl').split('\n'),
  ...fixture('finnhub/ws-ping.jsonl').split('\n'),
  ...Array.from({ length: 20 }, () => gen.next().value!.text),
]
  .map((l) => l.trim())
  .filter((l) => l.startsWith('{'));

const quality = {
  subscribed: null,
  allowedLatenessMs: 2_000,
  futureSkewMs: 60_000,
  dedupWindowMs: 10_000,
  outlier: { window: 50, band: 0.1, minSamples: 10 },
};

const payloadOk = (p: string): boolean =>
  typeof p === 'string' && p.length <= MAX_PAYLOAD_CHARS + 64;

describe('fuzzing the parsers (seeded)', () => {
  it('Finnhub messages: every message becomes trades, a quarantined record or a ping/error; the rules take every trade', () => {
    const message = fc.oneof(
      mutated(fc.constantFrom(...recorded)),
      fc.json({ depthSize: 'large' }),
      fc.string({ maxLength: 200 }),
      fc
        .record({
          s: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('AAPL', 'BINANCE:BTCUSDT')),
          p: fc.oneof(fc.double(), fc.constant(null), fc.string({ maxLength: 5 })),
          t: fc.oneof(fc.integer(), fc.double(), fc.constant(1_704_207_600_000)),
          v: fc.oneof(fc.double(), fc.nat()),
          c: fc.oneof(fc.array(fc.string({ maxLength: 4 }), { maxLength: 5 }), fc.anything()),
        })
        .map((d) => JSON.stringify({ type: 'trade', data: [d] }) ?? ''),
    );
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 20 }), (texts) => {
        const out = emptyLiveBatch();
        const types = texts.map((t) => parseFinnhubMessage(t, 1, 'fuzz', out));
        expect(
          types.every((t) => ['trade', 'ping', 'error', 'malformed', 'unknown'].includes(t)),
        ).toBe(true);
        // Nothing vanishes: a message that is not a trade, ping or error is quarantined.
        const quarantinedMessages = types.filter(
          (t) => t === 'malformed' || t === 'unknown',
        ).length;
        expect(out.rejects.length).toBe(quarantinedMessages);
        expect(out.rejects.every((r) => payloadOk(r.payload))).toBe(true);
        const v = new TradeValidator({ ...quality, now: () => 1_800_000_000_000 });
        const n = out.trades.length;
        const verdict = v.validate(out.trades);
        expect(verdict.valid.length + verdict.rejects.length + verdict.duplicates).toBe(n);
        expect(verdict.rejects.every((r) => payloadOk(r.payload))).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('CSV: every data line becomes one bar or one quarantined row; the rules take every bar', () => {
    // Real rows: @observablehq/sample-datasets aapl.csv (a dependency; the bundled demo history).
    const good = readFileSync(require.resolve('@observablehq/sample-datasets/aapl.csv'), 'utf8')
      .split('\n')
      .slice(1, 40)
      .filter(Boolean);
    const line = fc.oneof(
      { weight: 3, arbitrary: mutated(fc.constantFrom(...good)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), fc.boolean(), (lines, bom) => {
        const text = `${bom ? '\ufeff' : ''}Date,Open,High,Low,Close,Adj Close,Volume\n${lines.join('\n')}\n`;
        const data = text
          .split('\n')
          .slice(1)
          .filter((l) => l.replace(/\r$/, '').trim() !== '');
        const { bars, rejects } = parseBarsCsv(text, {
          symbol: 'AAPL',
          interval: '1d',
          source: 'csv',
          file: 'fuzz.csv',
          receivedAt: 1,
        });
        expect(bars.length + rejects.length).toBe(data.length);
        expect(rejects.every((r) => payloadOk(r.payload))).toBe(true);
        const v = new BarValidator({ from: -8.64e15, to: 8.64e15, now: () => 1_800_000_000_000 });
        const res = v.validate(bars);
        expect(res.valid.length + res.rejected.length + res.duplicates).toBe(bars.length);
        expect(res.rejected.every((r) => payloadOk(r.payload))).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('Yahoo chart bodies: a result, quarantined records, a failure or a SourceError; never a crash', () => {
    const real = fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json');
    const doc = JSON.parse(real) as { chart: { result: Record<string, unknown>[] } };
    const body = fc.oneof(
      mutated(fc.constant(real.slice(0, 4000))),
      fc.json({ depthSize: 'large' }),
      fc
        .record({
          key: fc.constantFrom('timestamp', 'indicators', 'meta', 'events'),
          value: fc.anything(),
        })
        .map(({ key, value }) => {
          const r = { ...doc.chart.result[0], [key]: value };
          return JSON.stringify({ chart: { result: [r], error: null } }) ?? '';
        }),
    );
    const req = {
      symbol: 'AAPL',
      interval: '1d' as const,
      from: Date.parse('2020-08-31'),
      to: Date.parse('2020-11-07'),
    };
    fc.assert(
      fc.property(body, (b) => {
        try {
          const out = parseYahooChart(b, 200, req, 1);
          expect(
            out.bars.length + out.rejects.length > 0 ||
              out.failure !== null ||
              b.includes('"result":['),
          ).toBe(true);
          expect(out.rejects.every((r) => payloadOk(r.payload))).toBe(true);
          for (const bar of out.bars) expect(typeof payloadText(bar.payload)).toBe('string');
          new BarValidator({ from: req.from, to: req.to }).validate(out.bars);
        } catch (err) {
          expect(err).toBeInstanceOf(SourceError);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('Yahoo chart bodies nested thousands deep are quarantined as malformed_response, not walked', () => {
    const req = { symbol: 'AAPL', interval: '1d' as const, from: 0, to: 1 };
    const body = `{"chart":{"result":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`;
    const out = parseYahooChart(body, 200, req, 1);
    expect(out.failure).toMatch(/nests deeper than 64 levels/);
    expect(out.rejects.map((r) => r.rule)).toEqual(['malformed_response']);
  });
});
