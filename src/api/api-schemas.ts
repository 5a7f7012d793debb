/**
 * Request and response schemas of the REST API, built from the same zod
 * definitions as the records (core/records.ts). They validate every
 * parameter and generate the OpenAPI document.
 */

import { z } from 'zod';
import { SYMBOL_PATTERN, SYMBOL_RULE } from '../core/limits.ts';
import { BarSchema, IntervalSchema, QUARANTINE_STAGES, TradeSchema } from '../core/records.ts';
import { type Interval, parseDateArg, rangeProblem, timeArgProblem } from '../core/time.ts';
import { EXPORT_LAYERS } from '../store/store.ts';
import { ENRICHED_COLUMNS } from '../transform/enrich.ts';

/**
 * The most rows one request returns (a year of 1-minute bars fits); larger
 * ranges are paged with `cursor`.
 */
export const MAX_LIMIT = 100_000;

const symbol = z
  .string()
  .regex(SYMBOL_PATTERN, `a symbol such as AAPL or BINANCE:BTCUSDT (${SYMBOL_RULE})`)
  .describe('instrument symbol');

/** A time: YYYY-MM-DD, ISO 8601, or epoch milliseconds. */
const time = z
  .string()
  .transform((v, ctx) => {
    const ms = parseDateArg(v);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: timeArgProblem(v) ?? 'a time' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('YYYY-MM-DD, ISO 8601 or epoch milliseconds (UTC)');

const limit = (dflt: number) =>
  z.coerce
    .number()
    .int('a whole number')
    .min(1, `a whole number from 1 to ${MAX_LIMIT}`)
    .max(MAX_LIMIT, `a whole number from 1 to ${MAX_LIMIT}`)
    .default(dflt)
    .describe(`rows per page (at most ${MAX_LIMIT})`);

const cursor = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,200}$/, 'a cursor returned as nextCursor by the previous page')
  .optional()
  .describe('nextCursor of the previous page');

/**
 * Holds `from`/`to` of a parsed query or body to the same check as the CLI
 * (core/time.ts); with `interval`, as a fetch (earliest start, longest span).
 */
function checkRange(fetch: boolean) {
  return (
    v: { from?: number | undefined; to?: number | undefined; interval?: Interval | undefined },
    ctx: z.RefinementCtx,
  ): void => {
    const to = v.to ?? (fetch ? Date.now() : undefined);
    const problem = rangeProblem(v.from, to, fetch ? v.interval : undefined);
    if (problem)
      ctx.addIssue({ code: 'custom', path: [problem.parameter], message: problem.message });
  };
}

export const BarsQuerySchema = z
  .object({
    symbol,
    interval: IntervalSchema.default('1d'),
    from: time.optional(),
    to: time.optional(),
    limit: limit(1_000),
    indicators: z
      .string()
      .transform((v, ctx) => {
        const list = v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = list.find((c) => !(ENRICHED_COLUMNS as readonly string[]).includes(c));
        if (bad) {
          ctx.addIssue({
            code: 'custom',
            message: `"${bad}" is not an indicator; expected a comma-separated list of ${ENRICHED_COLUMNS.join(', ')}`,
          });
          return z.NEVER;
        }
        return list as (typeof ENRICHED_COLUMNS)[number][];
      })
      .optional()
      .describe(`comma-separated: ${ENRICHED_COLUMNS.join(', ')}`),
    format: z.enum(['json', 'csv', 'parquet', 'arrow']).default('json'),
    order: z
      .enum(['asc', 'desc'])
      .default('asc')
      .describe(
        'desc: the newest `limit` bars before `to`, newest first; the cursor pages further back',
      ),
    cursor,
  })
  .strict()
  .superRefine(checkRange(false));

export const ExportQuerySchema = z
  .object({
    layer: z
      .enum(EXPORT_LAYERS)
      .describe('raw, staging (bars), curated (bars_enriched), trades or corporate_actions'),
    symbol: symbol.optional(),
    interval: IntervalSchema.optional(),
    from: time.optional(),
    to: time.optional(),
    format: z.enum(['parquet', 'csv']).default('parquet'),
  })
  .strict()
  .superRefine(checkRange(false));

export const TradesQuerySchema = z
  .object({ symbol, from: time.optional(), to: time.optional(), limit: limit(1_000), cursor })
  .strict()
  .superRefine(checkRange(false));

export const QuarantineQuerySchema = z
  .object({
    rule: z
      .string()
      .regex(/^[a-z_]{1,64}$/, 'a rule name such as late_trade')
      .optional(),
    symbol: symbol.optional(),
    interval: IntervalSchema.optional(),
    stage: z.enum(QUARANTINE_STAGES).optional(),
    from: time.optional(),
    to: time.optional(),
    limit: limit(100),
  })
  .strict()
  .superRefine(checkRange(false));

export const EmptyQuerySchema = z.object({}).strict();

export const ErrorSchema = z.object({
  error: z.string().describe('machine-readable kind: bad_parameter, not_found, …'),
  parameter: z.string().optional().describe('the parameter that was wrong'),
  message: z.string(),
});

const IndicatorValues = z.record(z.string(), z.number().nullable());

export const BarsResponseSchema = z.object({
  symbol: z.string(),
  interval: IntervalSchema,
  bars: z.array(
    BarSchema.extend({
      vwap: z.number().nullable().optional(),
      tradeCount: z.number().int().nullable().optional(),
      backfilled: z.boolean().optional(),
      indicators: IndicatorValues.optional(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

export const TradesResponseSchema = z.object({
  symbol: z.string(),
  trades: z.array(TradeSchema),
  nextCursor: z.string().nullable(),
});

export const QuarantineResponseSchema = z.object({
  rows: z.array(
    z.object({
      id: z.string(),
      stage: z.enum(QUARANTINE_STAGES),
      source: z.string(),
      symbol: z.string().nullable(),
      interval: z
        .string()
        .nullable()
        .describe('the bar interval the record was meant for; null for trades'),
      rule: z.string(),
      message: z.string(),
      payload: z.string().describe('the raw record, untouched'),
      receivedAt: z.number(),
      replayable: z
        .boolean()
        .describe(
          'whether POST /api/quarantine/{id}/replay can take it (a trade whose payload parses; not a malformed message or a bar)',
        ),
    }),
  ),
});

export const SymbolsResponseSchema = z.object({
  symbols: z.array(
    z.object({
      symbol: z
        .string()
        .describe("'(none)' counts rejects that had no symbol (malformed messages)"),
      interval: z.string().describe("a bar interval, or 'trades' for the symbol's trades"),
      kind: z
        .enum(['bars', 'trades', 'rejects'])
        .describe(
          'bars or trades stored; or rejects only (nothing was stored for it, e.g. an unsubscribed symbol)',
        ),
      rows: z.number(),
      firstTs: z.number().nullable(),
      lastTs: z.number().nullable(),
      freshnessMs: z.number().nullable().describe('now − last ts'),
      calendar: z.string().describe('the trading calendar of the symbol (XNYS, XLON, XETR, 24/7)'),
      sessionsBehind: z
        .number()
        .nullable()
        .describe('sessions of its calendar that closed after the last bar (0 = up to date)'),
      gaps: z
        .number()
        .nullable()
        .describe(
          'bars its calendar expects that are not stored (daily: sessions without a bar, over the whole series; intraday: intervals inside session hours, over the last 5 sessions); known unfillable bars not counted',
        ),
      rejects: z.number(),
    }),
  ),
});

export const HealthResponseSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  store: z.object({ ready: z.boolean(), kind: z.string(), error: z.string().optional() }),
  log: z.object({
    ready: z.boolean(),
    kind: z.string().nullable(),
    backlog: z.number().nullable(),
    error: z.string().optional(),
  }),
  uptimeSeconds: z.number(),
});

export const StatsResponseSchema = z.object({
  rows: z.record(z.string(), z.number()).describe('rows per table, by layer'),
  rejectsByRule: z.record(z.string(), z.number()),
  live: z
    .object({
      tradesPerSecond: z.number(),
      tradesIn: z.number(),
      tradesStored: z.number(),
      barsClosed: z.number(),
      duplicates: z.number(),
      latencyP50Ms: z.number().nullable(),
      latencyP99Ms: z.number().nullable(),
      lagMs: z
        .number()
        .nullable()
        .describe('now − the receive time of the newest trade stored (null before one is)'),
      backlog: z.number().nullable().describe('records waiting in the log'),
      feed: z
        .object({
          source: z.string(),
          state: z.enum(['starting', 'live', 'reconnecting', 'stale', 'market_closed', 'error']),
          since: z.number(),
          detail: z.string().nullable(),
        })
        .nullable()
        .describe('what the live source said last'),
    })
    .nullable(),
  queryCache: z
    .object({
      hits: z.number(),
      misses: z.number(),
      stale: z.number().describe('lookups answered by re-reading only what changed'),
      entries: z.number(),
      bytes: z.number(),
      maxBytes: z.number(),
    })
    .nullable()
    .describe('the cache of bar query results in front of the store (null: the store has none)'),
});

export const BackfillBodySchema = z
  .object({
    source: z.enum(['yahoo', 'stooq']).default('yahoo').describe('the provider to fetch from'),
    symbols: z
      .array(symbol)
      .min(1, 'at least one symbol')
      .max(1_000, 'at most 1000 symbols')
      .describe('the symbols to fetch (1 to 1000)'),
    interval: z
      .enum(['1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo'])
      .default('1d')
      .describe('bar interval'),
    from: time,
    to: time.optional(),
  })
  .strict()
  .superRefine(checkRange(true))
  .meta({
    examples: [{ source: 'yahoo', symbols: ['AAPL', 'MSFT'], interval: '1d', from: '2024-01-02' }],
  });

export const JobParamsSchema = z
  .object({ id: z.uuid('a job id returned by POST /api/backfill (a run id)') })
  .strict();

export const JobResponseSchema = z.object({
  id: z.string(),
  kind: z.literal('backfill'),
  state: z.enum(['running', 'done', 'failed']),
  progress: z.object({
    done: z.number(),
    total: z.number(),
    rows: z.number(),
    rejects: z.number(),
    errors: z.number(),
  }),
  errors: z.array(z.object({ symbol: z.string(), message: z.string() })),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  error: z.string().nullable(),
  params: z.unknown().describe('the one-off pipeline, its partitions (symbols) and range'),
  run: z.string().describe('the run behind the job: GET it for attempts and logs'),
});

export const FormingQuerySchema = z
  .object({ symbol: symbol.optional(), interval: IntervalSchema.optional() })
  .strict();

export const FormingResponseSchema = z.object({
  bars: z
    .array(
      BarSchema.extend({
        vwap: z.number().nullable().optional(),
        tradeCount: z.number().int().nullable().optional(),
      }),
    )
    .describe('bars still open: forming, or closed but inside the allowed lateness'),
});

export const QuarantineIdParamsSchema = z
  .object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'a quarantine id from GET /api/quarantine') })
  .strict();

export const ReplayResponseSchema = z.object({
  outcome: z.enum(['stored', 'rejected', 'not_replayable']),
  trade: TradeSchema.optional(),
  barsRebuilt: z.number().optional(),
  rule: z.string().optional(),
  message: z.string().optional(),
});

export const RejectHistogramQuerySchema = z
  .object({
    bucket: z.enum(['1s', '1m', '5m', '1h', '1d']).default('1m'),
    from: time.optional(),
    to: time.optional(),
    rule: z
      .string()
      .regex(/^[a-z_]{1,64}$/, 'a rule name such as late_trade')
      .optional(),
    symbol: symbol.optional(),
    stage: z.enum(QUARANTINE_STAGES).optional(),
  })
  .strict()
  .superRefine(checkRange(false));

export const RejectHistogramResponseSchema = z.object({
  bucket: z.string(),
  points: z.array(z.object({ ts: z.number(), rule: z.string(), n: z.number() })),
});

export const KeyCreateBodySchema = z
  .object({
    scope: z
      .enum(['read', 'admin'])
      .default('read')
      .describe('read: every GET; admin: everything, keys and backfills included'),
    name: z.string().max(100).nullable().default(null).describe('a note: who or what uses it'),
  })
  .strict();

export const KeyIdParamsSchema = z
  .object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'a key id from GET /api/keys') })
  .strict();

const KeyInfo = z.object({
  id: z.string(),
  name: z.string().nullable(),
  scope: z.enum(['read', 'admin']),
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
});

export const KeyCreatedResponseSchema = KeyInfo.extend({
  key: z.string().describe('the key itself: shown this once, stored only as a salted hash'),
});

export const KeysResponseSchema = z.object({ keys: z.array(KeyInfo) });
