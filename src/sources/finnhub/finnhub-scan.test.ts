import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { payloadText } from '../../core/records.ts';
import { simulate } from '../simulator/simulator.ts';
import { emptyLiveBatch } from '../source.ts';
import { parseFinnhubJson, parseFinnhubMessage } from './finnhub-messages.ts';
import { scanTradeMessage } from './finnhub-scan.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/finnhub');

/** What a parse produced, with payloads as text and -0 told from 0. */
function parsed(parse: typeof parseFinnhubMessage, text: string) {
  const out = emptyLiveBatch();
  const type = parse(text, 1_700_000_000_000, 'finnhub', out);
  return {
    type,
    trades: out.trades.map((t) => ({
      ...t,
      price: Object.is(t.price, -0) ? '-0' : t.price,
      size: Object.is(t.size, -0) ? '-0' : t.size,
      payload: payloadText(t.payload),
    })),
    rejects: out.rejects,
    events: out.events,
  };
}

/** Checks that the scanner path and JSON.parse agree on `text`; true if the scanner took it. */
function agrees(text: string): boolean {
  expect(parsed(parseFinnhubMessage, text), text).toEqual(parsed(parseFinnhubJson, text));
  return scanTradeMessage(text, 0, 'x', []);
}

/** A seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('scanTradeMessage', () => {
  it('reads the recorded Finnhub session exactly as JSON.parse does', () => {
    const lines = readFileSync(join(FIXTURES, 'ws-trades-AAPL-2020-04-14.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    let taken = 0;
    for (const line of lines) if (agrees(line)) taken++;
    expect(taken).toBe(lines.length);
    for (const line of readFileSync(join(FIXTURES, 'ws-ping.jsonl'), 'utf8').split('\n')) {
      if (line.trim() !== '') expect(agrees(line)).toBe(false);
    }
  });

  it('reads the simulator, faults included, exactly as JSON.parse does', () => {
    const gen = simulate({
      symbols: ['AAPL', 'MSFT', 'BINANCE:BTCUSDT', 'Ü'],
      seed: 7,
      faultRate: 0.05,
      tradesPerMessage: 5,
    });
    let taken = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if (agrees(gen.next().value!.text)) taken++;
    // Faults that are not JSON numbers (NaN as null, a broken message) go to JSON.parse.
    expect(taken).toBeGreaterThan(n * 0.97);
  });

  it('agrees with JSON.parse on fuzzed messages, and takes every well-formed one', () => {
    const r = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const ws = () => pick(['', '', '', ' ', '\n', '\t ', '\r\n']);
    const numbers = [
      () => String(Math.round(r() * 1e6) / 100),
      () => String(r() * 1000),
      () => (r() * 1e-7).toExponential(),
      () => String(-Math.round(r() * 1e4)),
      () => pick(['0', '-0', '0.0', '-0.0', '1e3', '1E+2', '2.5e-3', '123456789012345678', '0.1']),
      () => `${Math.floor(r() * 1e9)}.${String(Math.floor(r() * 1e12)).padStart(12, '0')}`,
      () => String(1_586_876_152_000 + Math.floor(r() * 1e6)),
    ];
    const long = `"${'X'.repeat(100)}"`; // longer than what is kept for reuse
    const strings = ['"AAPL"', '"BINANCE:BTCUSDT"', '"Ü€"', '""', '"A\\"B"', '"A\\u0042"', long];
    const conds = [
      '[]',
      '["1"]',
      '["1","12"]',
      '[ "1" , "12" ]',
      '["a,b"]',
      '["\\n"]',
      '[1]',
      `[${long},${long},${long}]`,
    ];
    const element = (): { text: string; wellFormed: boolean } => {
      let wellFormed = true;
      const pairs: string[] = [];
      for (const k of ['s', 'p', 't', 'v', 'c']) {
        if (r() < 0.1) continue;
        let v: string;
        if (k === 's') v = pick(strings);
        else if (k === 'c') v = pick(conds);
        else v = pick(numbers)();
        if (v.includes('\\') || v === '[1]') wellFormed = false;
        pairs.push(`${ws()}"${k}"${ws()}:${ws()}${v}${ws()}`);
      }
      const odd = r();
      if (odd < 0.03) {
        pairs.push('"x":1');
        wellFormed = false;
      } else if (odd < 0.06) {
        pairs.push('"p":null');
        wellFormed = false;
      } else if (odd < 0.09 && pairs.length > 0) {
        pairs.push(pairs[0]!); // a key twice
        wellFormed = false;
      }
      pairs.sort(() => r() - 0.5);
      return { text: `{${pairs.join(',')}}`, wellFormed };
    };
    let wellFormedTaken = 0;
    let wellFormedAll = 0;
    for (let i = 0; i < 20_000; i++) {
      const els = Array.from({ length: Math.floor(r() * 4) }, element);
      let wellFormed = els.every((e) => e.wellFormed);
      const data = `"data"${ws()}:${ws()}[${ws()}${els.map((e) => e.text).join(`${ws()},${ws()}`)}${ws()}]`;
      const type = `"type"${ws()}:${ws()}${r() < 0.95 ? '"trade"' : '"ping"'}`;
      if (!type.includes('"trade"')) wellFormed = false;
      let text = `${ws()}{${ws()}${r() < 0.5 ? `${data},${ws()}${type}` : `${type},${ws()}${data}`}${ws()}}${ws()}`;
      const cut = r();
      if (cut < 0.03) {
        text = text.slice(0, Math.floor(r() * text.length));
        wellFormed = false;
      } else if (cut < 0.05) {
        text += pick(['x', '{}', ',', '0']);
        wellFormed = false;
      }
      const taken = agrees(text);
      if (wellFormed) {
        wellFormedAll++;
        if (taken) wellFormedTaken++;
      }
    }
    expect(wellFormedAll).toBeGreaterThan(5_000);
    expect(wellFormedTaken).toBe(wellFormedAll);
  });

  it('reads numbers exactly as JSON.parse does', () => {
    const r = rng(3);
    for (let i = 0; i < 50_000; i++) {
      const x = (r() - 0.5) * 10 ** Math.floor(r() * 30 - 10);
      for (const text of [String(x), x.toFixed(Math.floor(r() * 10)), x.toPrecision(15)]) {
        const trades: Parameters<typeof scanTradeMessage>[3] = [];
        const msg = `{"data":[{"p":${text},"s":"A","t":1,"v":1}],"type":"trade"}`;
        if (!scanTradeMessage(msg, 0, 'x', trades)) {
          expect(() => JSON.parse(msg), text).toThrow();
          continue;
        }
        expect(Object.is(trades[0]!.price, JSON.parse(text)), text).toBe(true);
      }
    }
  });
});
