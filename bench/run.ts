/**
 * `npm run bench`: every benchmark, printed as Markdown for BENCHMARKS.md.
 * Sizes can be lowered for a quick look: BENCH_QUICK=1 npm run bench.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { benchApiBars, benchFanOut } from './api.bench.ts';
import { benchBackfill } from './backfill.bench.ts';
import { benchIndicators, copyReference, newArrayReference } from './indicators.bench.ts';
import { benchKafkaClients } from './kafka-clients.bench.ts';
import { benchKafkaPipeline } from './kafka-pipeline.bench.ts';
import { benchLive, duckdbTradesAlone, liveMessages, parseBound, parseOwn } from './live.bench.ts';
import { benchQuestDb, questdbReachable } from './questdb.bench.ts';
import { benchScheduler } from './scheduler.bench.ts';
import { benchBulkLoad } from './store.bench.ts';
import { benchStores } from './stores.bench.ts';

const quick = process.env.BENCH_QUICK === '1';
const dir = join(import.meta.dirname, '.data');
mkdirSync(dir, { recursive: true });
const fmt = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;

const out: string[] = [];
const say = (s = ''): void => {
  out.push(s);
  console.log(s);
};
const machine = `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`;
say(`machine: ${machine}, node ${process.version}${quick ? ' (BENCH_QUICK)' : ''}`);
say();

const N = quick ? 1_000_000 : 10_000_000;
const NLIB = quick ? 200_000 : 1_000_000;
say(`### Indicators: ${fmt(N)} closes (tickline), ${fmt(NLIB)} (libraries), values/s`);
say();
say(
  row([
    'indicator',
    'tickline (a new output array per call)',
    'technicalindicators',
    'trading-signals',
    '× technicalindicators (goal ≥ 50×)',
    '× trading-signals (goal ≥ 10×)',
  ]),
);
say('|---|---:|---:|---:|---:|---:|');
const indicatorRows = benchIndicators(N, NLIB);
for (const r of indicatorRows) {
  say(
    row([
      r.indicator,
      fmt(r.tickline),
      fmt(r.technicalindicators),
      fmt(r.tradingSignals),
      `${(r.tickline / r.technicalindicators).toFixed(0)}×`,
      `${(r.tickline / r.tradingSignals).toFixed(0)}×`,
    ]),
  );
}
say();
say(
  `tickline with its output buffers allocated once and reused (as the curated refresh runs): ${indicatorRows
    .map((r) => `${r.indicator} ${fmt(r.ticklineReused)}`)
    .join(', ')} values/s. The goal for every kernel is ≥ 200M values/s with new output arrays.`,
);
say();
const copy = copyReference(N);
say(
  `Reference for a kernel that reads one array and writes one: copying ${fmt(N)} values, ` +
    `a plain loop ${fmt(copy.loop)}/s, the loop four at a time ${fmt(copy.loop4)}/s, ` +
    `TypedArray.set ${fmt(copy.set)}/s; a new Float64Array of ${fmt(N)} written once ` +
    `${fmt(newArrayReference(N))}/s (the floor of any kernel with one new output).`,
);
say();

const ROWS = quick ? 200_000 : 2_000_000;
const bulk = await benchBulkLoad(dir, ROWS);
say(`### Bulk load into DuckDB: ${fmt(bulk.rows)} bars in one Store.write`);
say();
say(row(['what', 'rows/s']));
say('|---|---:|');
say(
  row([
    'first load (nothing stored yet: columnar append straight into bars)',
    fmt(bulk.rowsPerSec),
  ]),
);
say(
  row([
    'replay of the same rows (merge on the natural key; nothing changes)',
    fmt(bulk.upsertRowsPerSec),
  ]),
);
say(
  row([
    'reference: DuckDB alone, the same rows from a temp table into an empty bars (no JavaScript)',
    fmt(bulk.duckdbAloneRowsPerSec),
  ]),
);
say(
  row([
    "reference: DuckDB's appender, row by row, from the same Bar objects into an empty bars",
    fmt(bulk.duckdbAppenderRowsPerSec),
  ]),
);
say();

const SYMBOLS = quick ? 50 : 500;
const bf = await benchBackfill(dir, SYMBOLS, 8);
say(`### Backfill: ${bf.symbols} symbols × 10 years daily from a local replay server`);
say();
say(
  row([
    'symbols',
    'bars stored',
    'seconds',
    'bars/s',
    'response size',
    'in Store.write',
    'in refreshCurated',
  ]),
);
say('|---:|---:|---:|---:|---:|---:|---:|');
say(
  row([
    bf.symbols,
    fmt(bf.bars),
    bf.seconds.toFixed(1),
    fmt(bf.bars / bf.seconds),
    `${(bf.bytes / 1024).toFixed(0)} KiB`,
    `${(bf.storeSeconds.write ?? 0).toFixed(1)} s`,
    `${(bf.storeSeconds.refreshCurated ?? 0).toFixed(1)} s`,
  ]),
);
say();

const LIVE = quick ? 200_000 : 1_000_000;
say(`### Live path: ${fmt(LIVE)} trades, JSON messages → validate → 1s and 1m bars → DuckDB file`);
say();
say(
  row([
    'trades per message',
    'offered load',
    'trades/s end to end',
    'JSON.parse alone (trades/s)',
    "tickline's parser alone",
    'p50 arrival → bar update',
    'p99',
    'time in store writes',
  ]),
);
say('|---:|---|---:|---:|---:|---:|---:|---:|');
for (const [per, rate] of [
  [1, undefined],
  [10, undefined],
  [1, 50_000],
] as const) {
  const msgs = liveMessages(rate ? Math.min(LIVE, rate * 5) : LIVE, per);
  const bound = parseBound(msgs);
  const own = parseOwn(msgs);
  const r = await benchLive(dir, msgs, rate ? { rate: rate / per } : {});
  say(
    row([
      per,
      rate ? `${fmt(rate)} trades/s, paced` : 'as fast as it goes',
      fmt(r.tradesPerSec),
      fmt(bound),
      fmt(own),
      `${r.p50.toFixed(0)} ms`,
      `${r.p99.toFixed(0)} ms`,
      `${r.writeSeconds.toFixed(1)} of ${r.seconds.toFixed(1)} s`,
    ]),
  );
}
say();
const alone = await duckdbTradesAlone(dir, LIVE, 25_000);
say(
  `Reference, the store's floor: DuckDB alone storing ${fmt(LIVE)} trades made in SQL, 25k per ` +
    `transaction (the live path's flushes), and the checkpoint: ${fmt(alone.tradesPerSec)} trades/s, ` +
    `${alone.cpuMicrosPerTrade.toFixed(1)} µs of CPU per trade (all threads).`,
);
say();

{
  // QuestDB side by side: started from Maven Central by its script when none answers, and stopped
  // again after (TICKLINE_QUESTDB points at a running one instead).
  const http = process.env.TICKLINE_QUESTDB ?? '127.0.0.1:19900';
  const services = join(import.meta.dirname, '..', 'scripts', 'services', 'questdb');
  let started = false;
  if (!(await questdbReachable(http))) {
    try {
      execFileSync('bash', [join(services, 'start.sh')], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      started = true;
    } catch {
      say(
        `### QuestDB side by side: skipped (scripts/services/questdb/start.sh failed; Java 17 and Maven are needed)`,
      );
    }
  }
  if (started || (await questdbReachable(http))) {
    try {
      const q = await benchQuestDb(dir, LIVE, http);
      say(
        `### QuestDB 8.1.4 side by side: the same ${fmt(q.trades)} trades (10 symbols), ILP over TCP into QuestDB, JSON messages into tickline's live path`,
      );
      say();
      say(row(['what', 'tickline', 'QuestDB', 'tickline / QuestDB', 'goal']));
      say('|---|---:|---:|---:|---|');
      say(
        row([
          'ingest, trades/s (QuestDB: ready-made ILP until count() shows every row; tickline: parse, validate, 1s and 1m bars, trades and bars stored)',
          fmt(q.ticklineTradesPerSec),
          fmt(q.questdbRowsPerSec),
          (q.ticklineTradesPerSec / q.questdbRowsPerSec).toFixed(2),
          '≥ 0.5 now, ≥ 1 next',
        ]),
      );
      say(
        row([
          `trades → 1m bars, ms (best of 5; QuestDB SAMPLE BY 1m over HTTP, tickline's aggregator in memory; ${q.bars.questdb} / ${q.bars.tickline} bars)`,
          q.ticklineBarsMs.toFixed(0),
          q.questdbBarsMs.toFixed(0),
          (q.questdbBarsMs / q.ticklineBarsMs).toFixed(2),
          '',
        ]),
      );
      say();
      say(
        `Reference: DuckDB's GROUP BY time_bucket over the same trades stored by tickline: ${q.duckdbBarsMs.toFixed(0)} ms (${q.bars.duckdb} bars). The bars ratio is QuestDB's time over tickline's (above 1: tickline is faster).`,
      );
      say();
    } finally {
      if (started) execFileSync('bash', [join(services, 'stop.sh')], { stdio: 'ignore' });
    }
  }
}

const RSS = quick ? 1_000_000 : 10_000_000;
say(
  `### Live path memory: peak RSS replaying ${fmt(RSS)} trades (simulator at full speed, 10 per message)`,
);
say();
say(row(['settings', 'peak RSS', 'seconds', 'trades/s']));
say('|---|---:|---:|---:|');
const script = join(import.meta.dirname, 'live-rss.ts');
for (const [label, nodeFlags, env] of [
  ['defaults', [], {}],
  ['live.heapGrowthPercent 30', [], { TICKLINE_BENCH_HEAP_GROWTH: '30' }],
  [
    'live.heapGrowthPercent 30, store.memoryLimit 128MB',
    [],
    { TICKLINE_BENCH_HEAP_GROWTH: '30', TICKLINE_BENCH_DUCKDB_MEMORY: '128MB' },
  ],
] as const) {
  const outText = execFileSync(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', script, String(RSS), dir],
    { env: { ...process.env, ...env }, encoding: 'utf8' },
  );
  const m = JSON.parse(outText.trim().split('\n').pop()!);
  say(
    row([label, `${m.peakRssMB.toFixed(0)} MB`, m.seconds.toFixed(1), fmt(m.trades / m.seconds)]),
  );
}
say();

const api = await benchApiBars(dir);
say('### API: one year of 1-minute bars (98,280 with 3 indicator columns) in one request');
say();
say(row(['format', 'inside the server (Server-Timing, median)', 'round trip on loopback', 'size']));
say('|---|---:|---:|---:|');
for (const [format, r] of Object.entries(api)) {
  say(
    row([
      format,
      `${r.serverMs.toFixed(1)} ms`,
      `${r.roundTripMs.toFixed(1)} ms`,
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB`,
    ]),
  );
}
say();
const refreshMs = Object.values(api).find((r) => r.refreshMs !== undefined)?.refreshMs;
if (refreshMs !== undefined)
  say(`Curated refresh of the series after one new bar (median): ${refreshMs.toFixed(0)} ms`);
say();

const FAN_RATE = 100_000;
const FAN = quick ? 300_000 : 1_000_000;
say(
  `### WebSocket fan-out: the simulator offering ${fmt(FAN_RATE)} trades/s (10 per message, ${fmt(FAN)} trades), clients subscribed to every symbol's 1s and 1m bars`,
);
say();
say(row(['clients', 'load', 'ingest trades/s', 'frames delivered', 'update latency p50 / p99']));
say('|---:|---|---:|---:|---:|');
for (const [clients, rate] of [
  [0, FAN_RATE],
  [200, FAN_RATE],
  [0, undefined],
  [200, undefined],
] as const) {
  const r = await benchFanOut(dir, FAN, clients, { perMessage: 10, ...(rate ? { rate } : {}) });
  say(
    row([
      clients,
      rate ? `${fmt(rate)} trades/s offered` : 'as fast as it goes',
      fmt(r.tradesPerSec),
      fmt(r.framesReceived),
      clients ? `${r.latencyP50.toFixed(0)} / ${r.latencyP99.toFixed(0)} ms` : '—',
    ]),
  );
}
say();

// Kafka: needs a broker (scripts/services/kafka/start.sh; TICKLINE_KAFKA_BROKERS).
const brokers = (process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const reachable = await new Promise<boolean>((resolve) => {
  const [host, port] = [brokers[0]!.split(':')[0]!, Number(brokers[0]!.split(':')[1])];
  const s = connect({ host, port });
  s.once('connect', () => {
    s.destroy();
    resolve(true);
  });
  s.once('error', () => resolve(false));
});
if (!reachable) {
  say(
    `### Kafka: skipped (no broker at ${brokers.join(',')}; run scripts/services/kafka/start.sh)`,
  );
} else {
  const KN = quick ? 100_000 : 200_000;
  say(
    `### Kafka clients: ${fmt(KN)} trade-sized JSON messages, 6 partitions, idempotent, acks=all`,
  );
  say();
  say(
    row([
      'client',
      'compression',
      'send() in flight',
      'landed of sent',
      'produce msg/s',
      'consume msg/s',
    ]),
  );
  say('|---|---|---:|---:|---:|---:|');
  for (const r of await benchKafkaClients(brokers, KN)) {
    say(
      row([
        r.client,
        r.compression,
        r.inFlight,
        `${fmt(r.landed)} of ${fmt(r.sent)}`,
        fmt(r.produce),
        fmt(r.consume),
      ]),
    );
  }
  say();
  const PN = quick ? 200_000 : 500_000;
  say(
    `### Live path over Kafka: ${fmt(PN)} trades (10 per message) → validate → 1s and 1m bars → DuckDB`,
  );
  say();
  say(
    row([
      'log',
      'load',
      'trades/s end to end',
      'produce → trade stored p50 / p99',
      'produce → 1s bar stored p50 / p99',
    ]),
  );
  say('|---|---|---:|---:|---:|');
  for (const r of await benchKafkaPipeline(dir, brokers, { trades: PN, pacedSeconds: 10 })) {
    const bar = r.load.includes('paced')
      ? `${r.barP50.toFixed(0)} / ${r.barP99.toFixed(0)} ms`
      : '(event time ≠ wall time)';
    say(
      row([
        r.log,
        r.load,
        fmt(r.tradesPerSec),
        `${r.tradeP50.toFixed(0)} / ${r.tradeP99.toFixed(0)} ms`,
        bar,
      ]),
    );
  }
}

{
  const SN = quick ? 2_000 : 10_000;
  const pgUrl = process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const pgUp = await new Promise<boolean>((resolve) => {
    const u = new URL(pgUrl);
    const s = connect(Number(u.port || 5432), u.hostname, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
  say(
    `### Pipelines: one run of ${fmt(SN)} no-op partitions, and trigger → first task started over 200 runs`,
  );
  say();
  say(row(['runner', 'partitions/s', 'trigger → start p50 / p99']));
  say('|---|---:|---:|');
  for (const r of await benchScheduler(dir, SN, pgUp ? pgUrl : undefined)) {
    say(
      row([
        r.runner,
        fmt(r.partitionsPerSec),
        `${r.triggerToStartP50.toFixed(1)} / ${r.triggerToStartP99.toFixed(1)} ms`,
      ]),
    );
  }
  if (!pgUp) say('(PostgreSQL not reachable at TICKLINE_PG_URL: its row is missing)');
}

{
  // Stores: needs the machine's PostgreSQL and a Cassandra node (scripts/services/cassandra/start.sh).
  const up = (addr: string) =>
    new Promise<boolean>((resolve) => {
      const [host, port] = [
        addr.slice(0, addr.lastIndexOf(':')),
        addr.slice(addr.lastIndexOf(':') + 1),
      ];
      const s = connect(Number(port), host, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  const cassandra = process.env.TICKLINE_CASSANDRA ?? '127.0.0.1:19042';
  const pg = new URL(process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  if (!(await up(cassandra)) || !(await up(`${pg.hostname}:${pg.port || 5432}`))) {
    say(
      `### Stores: skipped (PostgreSQL at ${pg.host} and a Cassandra node at ${cassandra} are needed; scripts/services/cassandra/start.sh)`,
    );
  } else {
    for (const line of await benchStores(quick)) out.push(line);
  }
}
