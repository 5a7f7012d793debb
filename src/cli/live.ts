/** Flags shared by the live commands (stream, record, up), and the live status line. */
import type { Command } from 'commander';
import { calendarResolver } from '../calendar/registry.ts';
import type { Config } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';
import { FinnhubSource } from '../sources/finnhub/finnhub-source.ts';
import { ReplaySource } from '../sources/replay/replay-source.ts';
import { SimulatorSource } from '../sources/simulator/simulator-source.ts';
import { simulatorStarts } from '../sources/simulator/simulator-starts.ts';
import type { LiveSource } from '../sources/source.ts';
import type { Store } from '../store/store.ts';
import { parseChoice, parsePositiveInt } from './args.ts';

export const LIVE_SOURCES = ['finnhub', 'simulator', 'replay'] as const;
export type LiveSourceName = (typeof LIVE_SOURCES)[number];

export const HOURS_HELP =
  'simulator: calendar (a symbol trades only while its exchange is open) | always';

/** Adds the flags that pick and shape a live source. */
export function liveSourceOptions(cmd: Command, dflt: LiveSourceName): Command {
  return cmd
    .option('--source <name>', `live source: ${LIVE_SOURCES.join(' | ')}`, dflt)
    .option('--symbols <list>', 'comma-separated symbols, e.g. AAPL,MSFT')
    .option('--file <path>', 'replay: the recording (NDJSON) to play back')
    .option('--speed <x>', "replay: 1 = as recorded, N = N× faster, 'max' = as fast as possible")
    .option('--rate <n>', 'simulator: trades per second over all symbols', '50')
    .option('--burstiness <x>', 'simulator: 0 = even arrivals … 0.95 = mostly bursts', '0.3')
    .option('--fault-rate <x>', 'simulator: fraction of bad records injected (0..1)', '0')
    .option('--duplicate-rate <x>', 'simulator: fraction of messages sent twice (0..1)', '0')
    .option('--seed <n>', 'simulator: random seed', '1')
    .option('--hours <h>', HOURS_HELP, 'calendar')
    .option('--max-messages <n>', 'simulator: stop after this many messages');
}

function parseFraction(flag: string, value: string | undefined, max = 1): number {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n < 0 || n > max) {
    throw new UsageError(flag, `"${value}" is not a number from 0 to ${max}`);
  }
  return n;
}

/** Builds the live source the flags describe; every bad flag is a UsageError naming it. */
export function liveSourceFromFlags(
  o: Record<string, string | undefined>,
  cfg: Config,
  env: NodeJS.ProcessEnv = process.env,
): { name: LiveSourceName; source: LiveSource } {
  const name = parseChoice('--source', o.source, LIVE_SOURCES, 'simulator');
  if (name === 'finnhub') {
    const token = env.FINNHUB_TOKEN ?? '';
    if (token === '') {
      throw new UsageError(
        '--source',
        'finnhub needs an API token in the FINNHUB_TOKEN environment variable (or use --source simulator)',
      );
    }
    const f = cfg.sources.finnhub;
    const calendars = calendarResolver(cfg);
    return {
      name,
      source: new FinnhubSource({
        wsUrl: f.wsUrl,
        restUrl: f.restUrl,
        token,
        staleAfterMs: f.staleAfterMs,
        isOpen:
          f.marketHours === 'always'
            ? () => true
            : (ts, symbols) => symbols.some((sym) => calendars.for(sym).isOpen(ts)),
        gapFill: f.gapFill,
        reconnectBaseMs: f.reconnectBaseMs,
        reconnectMaxMs: f.reconnectMaxMs,
        http: cfg.http,
      }),
    };
  }
  if (name === 'replay') {
    if (!o.file) throw new UsageError('--file', 'is required with --source replay');
    const speedArg = o.speed ?? '1';
    const speed = speedArg === 'max' ? 'max' : Number(speedArg);
    if (speed !== 'max' && !(Number.isFinite(speed) && speed > 0)) {
      throw new UsageError('--speed', `"${speedArg}" is not a positive number or 'max'`);
    }
    return { name, source: new ReplaySource({ file: o.file, speed, thread: cfg.live.threads }) };
  }
  const maxMessages = o.maxMessages
    ? parsePositiveInt('--max-messages', o.maxMessages, 0, 1e9)
    : undefined;
  return {
    name,
    source: new SimulatorSource({
      speed: 'realtime',
      tradesPerSecond: parsePositiveInt('--rate', o.rate, 50, 10_000_000),
      burstiness: parseFraction('--burstiness', o.burstiness, 0.95),
      faultRate: parseFraction('--fault-rate', o.faultRate),
      duplicateRate: parseFraction('--duplicate-rate', o.duplicateRate),
      seed: parsePositiveInt('--seed', o.seed, 1, 2 ** 31),
      allowedLatenessMs: cfg.live.allowedLatenessMs,
      ...(maxMessages ? { maxMessages } : {}),
      ...(parseChoice('--hours', o.hours, ['calendar', 'always'] as const, 'calendar') ===
      'calendar'
        ? { hours: calendarHours(cfg) }
        : {}),
    }),
  };
}

/** Installs SIGINT/SIGTERM handlers that abort `stop` once; a second signal exits at once. */
export function stopOnSignals(stop: AbortController, what: string): () => void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stop.signal.aborted) process.exit(130);
    if (process.stderr.isTTY) process.stderr.write(`\n${sig}: ${what} (again to quit now)\n`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Trading hours by each symbol's calendar, for the simulator. */
function calendarHours(cfg: Config) {
  const calendars = calendarResolver(cfg);
  return {
    isOpen: (symbol: string, ts: number) => calendars.for(symbol).isOpen(ts),
    nextOpen: (symbol: string, ts: number) => {
      const next = calendars.for(symbol).nextSession(ts);
      return next && next.open > ts ? next.open : ts + 86_400_000;
    },
  };
}

/**
 * A simulator continues from what is stored: each symbol from its last
 * stored price, with its history's volatility (read when the feed starts).
 */
export function startSimulatorFromStore(
  source: LiveSource,
  store: Store,
  symbols: readonly string[],
  say: (line: string) => void = () => {},
): void {
  if (!(source instanceof SimulatorSource)) return;
  source.startFrom(async () => {
    const starts = await simulatorStarts(store, symbols);
    if (starts.size > 0) {
      say(
        `simulator starts from the stored prices: ${[...starts]
          .map(([sym, s]) => `${sym} ${s.price} (${s.from}, σ ${Math.round(s.sigma * 100)} %/yr)`)
          .join(', ')}`,
      );
    }
    return starts;
  });
}
