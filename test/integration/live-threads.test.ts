/**
 * The live path with its replay read and parsed on a worker thread (the default, `live.threads`)
 * against the same path on one thread: the same recording leaves the same tables. Differential,
 * through the real binary: the recorded Finnhub session and a simulator session with faults and
 * duplicates (with messages only JSON.parse takes), each replayed both ways into a fresh store.
 * The binary runs from its build (bin/build.js); the threads run from source alike.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../../src/store/open-store.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { storeSnapshot } from '../helpers/store-snapshot.ts';

const FINNHUB = join(
  import.meta.dirname,
  '..',
  'fixtures',
  'finnhub',
  'ws-trades-AAPL-2020-04-14.jsonl',
);

let dir: string;
let simulated: string;

beforeAll(async () => {
  dir = tempDir();
  simulated = join(dir, 'simulated.ndjson');
  const rec = await runCli(
    ['record', '--source', 'simulator', '--symbols', 'AAPL,MSFT,TSLA', '--rate', '20000'].concat([
      '--hours',
      'always',
      '--fault-rate',
      '0.05',
      '--duplicate-rate',
      '0.05',
      '--max-messages',
      '3000',
      '--out',
      simulated,
    ]),
    { TICKLINE_DATA_DIR: join(dir, 'rec'), FINNHUB_TOKEN: '' },
  );
  expect(rec.code, rec.stderr).toBe(0);
  // Messages the scanner leaves to JSON.parse, and one that is not JSON.
  const t = Number(
    /"t":(\d+)/.exec(readFileSync(simulated, 'utf8').trim().split('\n').pop()!)?.[1] ?? 0,
  );
  const extra = [
    `{"type":"trade","data":[{"s":"MS\\u0046T","p":1.5,"t":${t + 1},"v":2,"c":["1"]}]}`,
    `{"data":[{"s":"TSLA","p":null,"t":${t + 2},"v":2}],"type":"trade"}`,
    'not json',
  ];
  writeFileSync(simulated, `${readFileSync(simulated, 'utf8').trimEnd()}\n${extra.join('\n')}\n`);
}, 180_000);

/** A recording replayed into a fresh data dir; what its store holds (wall-clock fields zeroed). */
const replays = new Map<string, ReturnType<typeof replayOnce>>();

/** Each replay once (a second into the same data dir would find its trades stored). */
function replay(file: string, symbols: string, threads: boolean, fromSource = false) {
  const key = JSON.stringify([file, symbols, threads, fromSource]);
  if (!replays.has(key)) replays.set(key, replayOnce(file, symbols, threads, fromSource));
  return replays.get(key)!;
}

async function replayOnce(file: string, symbols: string, threads: boolean, fromSource: boolean) {
  const data = join(dir, `${threads ? 'threads' : 'one'}${fromSource ? '-src' : ''}-${symbols}`);
  const config = join(dir, `config-${threads}.json`);
  writeFileSync(config, JSON.stringify({ live: { threads } }));
  const r = await runCli(
    ['stream', '--source', 'replay', '--file', file, '--speed', 'max', '--symbols', symbols],
    {
      TICKLINE_DATA_DIR: data,
      TICKLINE_CONFIG: config,
      TICKLINE_FROM_SOURCE: fromSource ? '1' : '',
    },
  );
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const store = await openStoreAt(join(data, 'tickline.duckdb'));
  try {
    const snap = await storeSnapshot(store, symbols.split(','));
    return {
      stdout: r.stdout.replaceAll(data, '<data>'),
      series: snap.series,
      trades: Object.fromEntries(
        Object.entries(snap.trades).map(([k, ts]) => [
          k,
          ts.map((x) => ({ ...(x as object), ingestedAt: 0 })),
        ]),
      ),
      // In a canonical order (the store lists them by arrival, which is the clock's).
      quarantine: (snap.quarantine ?? [])
        .map((q) => ({ ...q, receivedAt: 0, id: 0 }))
        .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
    };
  } finally {
    await store.close();
  }
}

describe('the live path with its replay on a worker thread', () => {
  it('leaves the tables the one-thread path leaves: the recorded Finnhub session', async () => {
    const file = join(dir, 'finnhub.jsonl');
    copyFileSync(FINNHUB, file);
    const threaded = await replay(file, 'AAPL', true);
    const single = await replay(file, 'AAPL', false);
    expect(threaded.trades.AAPL?.length).toBeGreaterThan(0);
    expect(threaded).toEqual(single);
  });

  it('leaves the tables the one-thread path leaves: a simulator session with faults', async () => {
    const threaded = await replay(simulated, 'AAPL,MSFT,TSLA', true);
    const single = await replay(simulated, 'AAPL,MSFT,TSLA', false);
    // The session exercised the rules: quarantined records of several rules, duplicates dropped.
    expect(new Set(single.quarantine.map((q) => q.rule)).size).toBeGreaterThan(3);
    expect(single.stdout).toMatch(/[1-9]\d* duplicates dropped/);
    expect(Object.values(single.trades).flat().length).toBeGreaterThan(2_000);
    expect(threaded).toEqual(single);
  });

  it('leaves the same tables run from source (TypeScript on both threads) as from the build', async () => {
    const built = await replay(simulated, 'AAPL,MSFT,TSLA', true);
    const source = await replay(simulated, 'AAPL,MSFT,TSLA', true, true);
    expect(Object.values(source.trades).flat().length).toBeGreaterThan(2_000);
    expect(source).toEqual(built);
  });
});
