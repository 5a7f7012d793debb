/**
 * The live path as whole processes: `tickline stream --source replay --speed max` over a replay
 * file, alternated pair by pair with the reference process that only JSON.parses the same
 * messages (bench/parse-only.mjs), each under /usr/bin/time (wall, CPU, peak RSS). Prints one
 * line per pair and the medians; the store's floor (DuckDB alone storing the same number of
 * trades, bench/live.bench.ts) is printed beside them.
 *
 *   node --import tsx bench/live-process.ts [trades=1000000] [symbols=10] [pairs=3] [other checkout]
 *
 * With another checkout (its node_modules installed), its `tickline stream` runs in each pair too,
 * on the same file: the change between two versions, like for like. With `one-thread` instead,
 * this checkout runs again with `live.threads: false` (everything on the main thread); with
 * `symbols:N`, this checkout runs again on the same trades spread over N symbols.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { duckdbTradesAlone } from './live.bench.ts';

const trades = Number(process.argv[2] ?? 1_000_000);
const symbols = Number(process.argv[3] ?? 10);
const pairs = Number(process.argv[4] ?? 3);
const other = process.argv[5];
const root = join(import.meta.dirname, '..');
const dir = join(import.meta.dirname, '.data', 'live-process');
mkdirSync(dir, { recursive: true });
const file = join(dir, `replay-${trades}-${symbols}.ndjson`);
/** Writes the replay file of `trades` over `n` symbols (once); its path. */
function replayFile(n: number): string {
  const path = join(dir, `replay-${trades}-${n}.ndjson`);
  execFileSync(process.execPath, [
    '--import',
    'tsx',
    join(import.meta.dirname, 'replay-file.ts'),
    String(trades),
    path,
    String(n),
  ]);
  return path;
}
replayFile(symbols);
const otherSymbols = other?.startsWith('symbols:') ? replayFile(Number(other.slice(8))) : null;

interface Run {
  wall: number;
  cpu: number;
  cpuPercent: number;
  rssMB: number;
}

/** Runs a command under /usr/bin/time; its figures. */
function timed(cmd: string[], cwd = root, env: NodeJS.ProcessEnv = process.env): Run {
  const out = join(dir, 'time.txt');
  execFileSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, ...cmd], {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd,
    env,
  });
  const [e, u, s, m] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: e!, cpu: u! + s!, cpuPercent: (100 * (u! + s!)) / e!, rssMB: m! / 1024 };
}

const data = join(dir, 'data');
const oneThread = join(dir, 'one-thread.json');
writeFileSync(oneThread, JSON.stringify({ live: { threads: false } }));
const tickline = (cwd = root, env: NodeJS.ProcessEnv = process.env, replay = file): Run => {
  rmSync(data, { recursive: true, force: true });
  return timed(
    [
      process.execPath,
      'bin/tickline.js',
      '--data-dir',
      data,
      'stream',
      '--source',
      'replay',
      '--file',
      replay,
      '--speed',
      'max',
    ],
    cwd,
    env,
  );
};
const parseOnly = (): Run =>
  timed([process.execPath, join(import.meta.dirname, 'parse-only.mjs'), file]);

const rows: { t: Run; p: Run; o?: Run }[] = [];
console.log(`${trades} trades, ${symbols} symbols, 10 per message; ${pairs} pairs`);
for (let i = 0; i < pairs; i++) {
  const p = parseOnly();
  const t = tickline();
  const o =
    other === 'one-thread'
      ? tickline(root, { ...process.env, TICKLINE_CONFIG: oneThread })
      : otherSymbols
        ? tickline(root, process.env, otherSymbols)
        : other
          ? tickline(other)
          : undefined;
  rows.push({ t, p, ...(o ? { o } : {}) });
  if (o) {
    console.log(
      `pair ${i + 1}: ${other}: ${o.wall.toFixed(2)} s wall, ${o.cpu.toFixed(2)} s CPU, ${o.rssMB.toFixed(0)} MB; this / that: wall ${(t.wall / o.wall).toFixed(2)}, CPU ${(t.cpu / o.cpu).toFixed(2)}`,
    );
  }
  console.log(
    `pair ${i + 1}: tickline ${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s CPU (${t.cpuPercent.toFixed(0)} %), ${t.rssMB.toFixed(0)} MB; ` +
      `parse-only ${p.wall.toFixed(2)} s, ${p.cpu.toFixed(2)} s CPU; ratio wall ${(t.wall / p.wall).toFixed(1)}×, CPU ${(t.cpu / p.cpu).toFixed(1)}×; ` +
      `${Math.round(trades / t.wall / 1000)}k trades/s, ${((t.cpu * 1e6) / trades).toFixed(2)} µs CPU per trade`,
  );
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const floor = await duckdbTradesAlone(join(import.meta.dirname, '.data'), trades, 25_000);
console.log(
  JSON.stringify({
    trades,
    symbols,
    tradesPerSec: Math.round(trades / med(rows.map((r) => r.t.wall))),
    wallRatio: med(rows.map((r) => r.t.wall / r.p.wall)),
    cpuRatio: med(rows.map((r) => r.t.cpu / r.p.cpu)),
    cpuPercent: med(rows.map((r) => r.t.cpuPercent)),
    cpuMicrosPerTrade: med(rows.map((r) => (r.t.cpu * 1e6) / trades)),
    duckdbFloorMicrosPerTrade: floor.cpuMicrosPerTrade,
    peakRssMB: Math.max(...rows.map((r) => r.t.rssMB)),
    ...(other
      ? {
          vsOther: {
            wall: med(rows.map((r) => r.t.wall / r.o!.wall)),
            cpu: med(rows.map((r) => r.t.cpu / r.o!.cpu)),
          },
        }
      : {}),
  }),
);
rmSync(data, { recursive: true, force: true });
