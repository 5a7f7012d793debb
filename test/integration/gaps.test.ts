/**
 * Must-show 6, the gap loop: `gaps` finds the holes cut out of a stored series by its
 * trading calendar (a holiday is not a hole), a `repair` task fills them from the
 * provider (a local server replaying Yahoo's recorded answer), and a bar the provider
 * does not have stays listed with the reason, and is not asked for again.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const MSFT = fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json');

/** The same recording without the bar of one date (a day the stock did not trade). */
function without(body: string, date: string): string {
  const doc = JSON.parse(body);
  const r = doc.chart.result[0];
  const at = (r.timestamp as number[]).findIndex((t) =>
    new Date(t * 1000).toISOString().startsWith(date),
  );
  if (at < 0) throw new Error(`no ${date} in the recording`);
  r.timestamp.splice(at, 1);
  for (const q of r.indicators.quote) for (const k of Object.keys(q)) q[k].splice(at, 1);
  for (const a of r.indicators.adjclose ?? []) a.adjclose.splice(at, 1);
  return JSON.stringify(doc);
}

let dir: string;
let yahoo: ReplayServer;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickline-gaps-'));
  const halted = without(MSFT, '2021-06-15');
  yahoo = await startReplayServer((u) => {
    const symbol = u.pathname.split('/').pop();
    if (symbol === 'MSFT') return [{ body: MSFT }];
    if (symbol === 'HALT') return [{ body: halted }];
    return undefined;
  });
  mkdirSync(join(dir, 'home'));
  const config = join(dir, 'home', 'tickline.config.yaml');
  writeFileSync(
    config,
    `pipelines:
  mend:
    tasks:
      repair: { kind: repair, symbols: [MSFT, HALT], interval: 1d, source: yahoo, retries: 1, retryDelayMs: 10 }
`,
  );
  env = {
    TICKLINE_CONFIG: config,
    TICKLINE_DATA_DIR: join(dir, 'data'),
    TICKLINE_YAHOO_URL: yahoo.url,
  };
});

afterAll(async () => {
  await yahoo.close();
  rmSync(dir, { recursive: true, force: true });
});

const gaps = async (): Promise<Record<string, unknown>[]> => {
  const r = await runCli(['gaps', '--format', 'json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('the gap loop', () => {
  it('lists holes by the calendar, repairs them from the provider, and keeps a real hole with its reason', async () => {
    const filled = await runCli(
      ['backfill', '--symbols', 'MSFT,HALT', '--from', '2021-02-01', '--to', '2022-01-28'],
      env,
    );
    expect(filled.code, filled.stderr).toBe(0);
    // A complete series has no gaps, though it skips weekends and every NYSE holiday.
    expect((await gaps()).filter((g) => g.symbol === 'MSFT')).toEqual([]);

    // Cut holes: three days in March, and the days around the 2021-07-05 holiday.
    const cut = await runCli(
      [
        'query',
        `DELETE FROM bars WHERE symbol = 'MSFT' AND interval = '1d' AND ts IN
          ('2021-03-03', '2021-03-04', '2021-03-05', '2021-07-02', '2021-07-06')`,
        '--write',
      ],
      env,
    );
    expect(cut.code, cut.stderr).toBe(0);
    expect(await gaps()).toEqual([
      {
        symbol: 'HALT',
        interval: '1d',
        from: '2021-06-15',
        to: '2021-06-15',
        missing: 1,
        reason: '',
      },
      {
        symbol: 'MSFT',
        interval: '1d',
        from: '2021-03-03',
        to: '2021-03-05',
        missing: 3,
        reason: '',
      },
      // 2021-07-05 (Independence Day, observed) is not missing: two bars, one range.
      {
        symbol: 'MSFT',
        interval: '1d',
        from: '2021-07-02',
        to: '2021-07-06',
        missing: 2,
        reason: '',
      },
    ]);
    const table = await runCli(['gaps', '--symbol', 'MSFT'], env);
    expect(table.stdout).toMatch(/MSFT +1d +2021-07-02 +2021-07-06 +2/);

    const asked = yahoo.requests.length;
    const run = await runCli(['pipelines', 'run', 'mend', '--wait'], env);
    expect(run.code, run.stderr).toBe(0);
    // Exactly the missing ranges were asked for: one request per range.
    expect(yahoo.requests.length - asked).toBe(3);
    const left = await gaps();
    expect(left).toEqual([
      {
        symbol: 'HALT',
        interval: '1d',
        from: '2021-06-15',
        to: '2021-06-15',
        missing: 1,
        reason: expect.stringMatching(/^yahoo had no bar when asked on \d{4}-\d\d-\d\d$/),
      },
    ]);
    const id = run.stdout.trim();
    const logs = await runCli(['runs', 'logs', id], env);
    expect(logs.stdout).toMatch(/MSFT 1d: filled 5 of 5 missing bars in 2 ranges from yahoo/);
    expect(logs.stdout).toMatch(
      /HALT 1d: filled 0 of 1 missing bars in 1 range from yahoo; 1 the provider could not give \(2021-06-15\)/,
    );

    // The real hole is not refetched on the next repair.
    const before = yahoo.requests.length;
    const again = await runCli(['pipelines', 'run', 'mend', '--wait'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(yahoo.requests.length).toBe(before);
  });
});
