import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../../core/errors.ts';
import { seededRandom } from '../../core/random.ts';
import { payloadText } from '../../core/records.ts';
import { ElementPayload } from '../finnhub/finnhub-scan.ts';
import { simulate } from '../simulator/simulator.ts';
import type { LiveBatch } from '../source.ts';
import { fromColumns, toColumns } from '../trade-columns.ts';
import { linesOf, ReplaySource, replayBatches } from './replay-source.ts';

const FIXTURE = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'finnhub',
  'ws-trades-AAPL-2020-04-14.jsonl',
);

/** Messages the scanner takes and ones only JSON.parse does (escapes, other key order, nulls). */
function recording(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tickline-replay-'));
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n');
  const sim = simulate({
    symbols: ['AAPL', 'MSFT', 'TSLA'],
    seed: 7,
    faultRate: 0.2,
    duplicateRate: 0.1,
    tradesPerMessage: 5,
    startTs: 1_700_000_000_000,
  });
  for (let k = 0; k < 400; k++) lines.push(sim.next().value!.text);
  lines.push(
    '{"type":"trade","data":[{"s":"AA\\u0050L","p":1.5,"t":1700000000000,"v":2,"c":["1"]}]}',
    '{"data":[{"s":"MSFT","p":null,"t":1700000000001,"v":2}],"type":"trade"}',
    '{"data":[{"s":"MSFT","p":2,"t":1700000000002,"v":2,"x":1}],"type":"trade"}',
    'not json at all',
    '{"type":"ping"}',
    '{"type":"error","msg":"subscription limit"}',
    JSON.stringify({
      receivedAt: 1,
      source: 'rec',
      message: '{"data":[{"s":"TSLA","p":3,"t":1700000000003,"v":1}],"type":"trade"}',
    }),
  );
  const file = join(dir, 'session.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A batch with payloads as text and the receive time dropped (it is the clock's). */
function plain(b: LiveBatch): unknown {
  return {
    ...b,
    messages: b.messages.map((m) => m.text),
    trades: b.trades.map((t) => ({ ...t, payload: payloadText(t.payload), receivedAt: 0 })),
    rejects: b.rejects.map((r) => ({ ...r, receivedAt: 0 })),
    events: b.events.map((e) => ({ ...e, at: 0 })),
  };
}

async function batches(source: ReplaySource, signal?: AbortSignal): Promise<LiveBatch[]> {
  const out: LiveBatch[] = [];
  for await (const b of source.live([], signal ? { signal } : {})) out.push(b);
  return out;
}

describe('trade columns', () => {
  it('give back the batch they were made from, payloads included', async () => {
    const file = recording();
    let n = 0;
    for await (const { batch, starts } of replayBatches(
      { file, speed: 'max', batchLines: 64 },
      'replay',
      undefined,
    )) {
      const { batch: columns, transfer } = toColumns(batch, starts);
      expect(transfer.length).toBeGreaterThan(0);
      // The scanner's payloads cross as their message and offsets; only the others as text.
      const elements = batch.trades.filter((t) => t.payload instanceof ElementPayload).length;
      expect(columns.trades.payloads.length).toBe(batch.trades.length - elements);
      // What crosses the thread boundary: the structured clone, buffers moved.
      const crossed = structuredClone(columns, { transfer });
      expect(plain(fromColumns(crossed))).toEqual(plain(batch));
      // Receive times and the lazy payloads' messages are kept as they were.
      const back = fromColumns(crossed);
      expect(back.trades.map((t) => t.receivedAt)).toEqual(batch.trades.map((t) => t.receivedAt));
      n += batch.trades.length;
    }
    expect(n).toBeGreaterThan(1_000);
  });
});

describe('ReplaySource on a worker thread', () => {
  it('yields the batches the one-thread replay yields', async () => {
    const file = recording();
    const threaded = await batches(new ReplaySource({ file, speed: 'max', batchLines: 50 }));
    const single = await batches(
      new ReplaySource({ file, speed: 'max', batchLines: 50, thread: false }),
    );
    expect(threaded.length).toBe(single.length);
    expect(threaded.map(plain)).toEqual(single.map(plain));
    const rules = new Set(single.flatMap((b) => b.rejects.map((r) => r.rule)));
    expect(rules).toContain('malformed_message');
    expect(single.some((b) => b.events.some((e) => e.kind === 'error'))).toBe(true);
  });

  it('fails as the one-thread replay does on a file it cannot read', async () => {
    const file = join(tmpdir(), 'tickline-no-such-recording.ndjson');
    const errs = await Promise.all(
      [true, false].map((thread) =>
        batches(new ReplaySource({ file, speed: 'max', thread })).then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    );
    for (const e of errs) {
      expect(e).toBeInstanceOf(SourceError);
      expect((e as SourceError).retryable).toBe(false);
    }
    expect((errs[0] as Error).message).toBe((errs[1] as Error).message);
    expect((errs[0] as Error).message).toContain(`cannot read ${file}`);
  });

  it('stops when told, handing over what it read', async () => {
    const file = recording();
    const stop = new AbortController();
    const got: LiveBatch[] = [];
    for await (const b of new ReplaySource({ file, speed: 'max', batchLines: 10 }).live([], {
      signal: stop.signal,
    })) {
      got.push(b);
      if (got.length === 2) stop.abort();
    }
    const all = await batches(
      new ReplaySource({ file, speed: 'max', batchLines: 10, thread: false }),
    );
    // It ended early, and what it yielded is the start of the whole replay.
    expect(got.length).toBeLessThan(all.length);
    expect(got.map(plain)).toEqual(all.slice(0, got.length).map(plain));
  });
});

describe('linesOf', () => {
  it('splits as readline does (\\n, \\r\\n, a lone \\r), however the text is chunked', async () => {
    const rand = seededRandom(11);
    const alphabet = ['a', 'b', '\n', '\r', '\r\n', 'é'];
    for (let k = 0; k < 300; k++) {
      let text = '';
      const n = Math.floor(rand() * 40);
      for (let i = 0; i < n; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      const chunks: string[] = [];
      for (let at = 0; at < text.length; ) {
        const len = 1 + Math.floor(rand() * 6);
        chunks.push(text.slice(at, at + len));
        at += len;
      }
      const want: string[] = [];
      for await (const line of createInterface({
        input: Readable.from(chunks),
        crlfDelay: Infinity,
      }))
        want.push(line);
      const got: string[] = [];
      for await (const line of linesOf(Readable.from(chunks))) got.push(line);
      // readline also gives a last empty line where the text ends without one: both skip it.
      expect(
        got.filter((l) => l !== ''),
        JSON.stringify(chunks),
      ).toEqual(want.filter((l) => l !== ''));
    }
  });
});
