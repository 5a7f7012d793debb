/**
 * The conditions alert rules watch beside runs: a series more than N
 * sessions behind its calendar (data_stale), the share of live records
 * quarantined over a window (quarantine_rate), and the live feed going
 * silent while its exchange is open (feed_stale, from the feed's events).
 * Each is reported to the Alerter, which notifies when one starts, repeats
 * by its interval, and sends a resolved notice when it clears.
 */
import type { CalendarResolver } from '../calendar/registry.ts';
import { durationMs } from '../core/pipeline-schema.ts';
import { isDailyOrLonger } from '../core/time.ts';
import { sessionsBehind } from '../pipelines/gaps.ts';
import { isBarSeries, type Store } from '../store/store.ts';
import type { Alerter } from './alerts.ts';

export interface LiveCounts {
  /** Records in so far, and of them quarantined (monotonic counters). */
  records: number;
  rejects: number;
}

export interface WatchOptions {
  alerter: Alerter;
  store: Store;
  calendars: CalendarResolver;
  /** The live path's counters, when one runs. */
  live?: () => LiveCounts | null;
  now?: () => number;
}

export class ConditionWatch {
  readonly #o: WatchOptions;
  readonly #now: () => number;
  readonly #samples: { at: number; c: LiveCounts }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #feedStale = false;

  constructor(o: WatchOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Evaluates every `everyMs` until stopped. */
  start(everyMs: number): void {
    this.#timer = setInterval(() => void this.evaluate().catch(() => {}), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The feed said it is stale (silent while its exchange is open), or trades came again. */
  feed(name: string, stale: boolean, detail = ''): void {
    if (stale === this.#feedStale) return;
    this.#feedStale = stale;
    this.#o.alerter.report({
      kind: 'feed_stale',
      key: `feed:${name}`,
      state: stale ? 'firing' : 'resolved',
      subject: stale
        ? `[tickline] the ${name} feed is stale`
        : `[tickline] the ${name} feed trades again`,
      body: stale
        ? `No trade from ${name} while the exchange is open${detail ? `: ${detail}` : ''}.\n`
        : `Trades from ${name} arrive again.\n`,
      details: { feed: name, stale },
    });
  }

  async evaluate(): Promise<void> {
    const now = this.#now();
    const rules = this.#o.alerter.rules;
    const stale = rules.filter((r) => r.on === 'data_stale');
    if (stale.length > 0) {
      const series = await this.#o.store.status();
      for (const rule of stale) {
        for (const s of series) {
          if (s.interval !== rule.interval || !isBarSeries(s) || !Number.isFinite(s.lastTs))
            continue;
          const behind = sessionsBehind(this.#o.calendars, s.symbol, s.interval, s.lastTs, now);
          const key = `series:${s.symbol}:${s.interval}`;
          const last = isDailyOrLonger(s.interval)
            ? new Date(s.lastTs).toISOString().slice(0, 10)
            : new Date(s.lastTs).toISOString();
          this.#o.alerter.report({
            kind: 'data_stale',
            key,
            state: behind > rule.sessions ? 'firing' : 'resolved',
            subject:
              behind > rule.sessions
                ? `[tickline] ${s.symbol} ${s.interval} is ${behind} sessions behind`
                : `[tickline] ${s.symbol} ${s.interval} is up to date`,
            body: `${s.symbol} ${s.interval}: last bar ${last}, ${behind} session${behind === 1 ? '' : 's'} of ${this.#o.calendars.nameFor(s.symbol)} closed since (allowed ${rule.sessions}).\n`,
            details: {
              symbol: s.symbol,
              interval: s.interval,
              lastTs: s.lastTs,
              sessionsBehind: behind,
            },
          });
        }
      }
    }
    const live = this.#o.live?.();
    if (live) {
      this.#samples.push({ at: now, c: { ...live } });
      for (const rule of rules.filter((r) => r.on === 'quarantine_rate')) {
        const window = durationMs(rule.window);
        const base = this.#samples.find((x) => x.at >= now - window) ?? this.#samples[0]!;
        const records = live.records - base.c.records;
        const rejects = live.rejects - base.c.rejects;
        const rate = records > 0 ? rejects / records : 0;
        this.#o.alerter.report({
          kind: 'quarantine_rate',
          key: 'live',
          state: records > 0 && rate > rule.above! ? 'firing' : 'resolved',
          subject: `[tickline] ${(rate * 100).toFixed(1)} % of live records quarantined in ${rule.window}`,
          body: `${rejects} of ${records} records quarantined in the last ${rule.window} (threshold ${(rule.above! * 100).toFixed(1)} %).\n`,
          details: { records, rejects, rate, window: rule.window },
        });
      }
      const longest = Math.max(
        0,
        ...rules.filter((r) => r.on === 'quarantine_rate').map((r) => durationMs(r.window)),
      );
      while (this.#samples.length > 1 && this.#samples[0]!.at < now - longest - 60_000)
        this.#samples.shift();
    }
  }
}
