/** The live commands from the real binary: record, replay, and their errors. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import { tradesIn } from '../helpers/live.ts';
import { FIXTURES } from '../helpers/replay-server.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
const env = (name: string) => ({ TICKLINE_DATA_DIR: join(dir, name), FINNHUB_TOKEN: '' });

describe('tickline record and replay', () => {
  it('records the simulator to NDJSON and replays it into exactly those trades', async () => {
    const out = join(dir, 'session.ndjson');
    const rec = await runCli(
      [
        'record',
        '--source',
        'simulator',
        '--symbols',
        'AAPL,MSFT',
        '--rate',
        '5000',
        '--hours',
        'always',
        '--max-messages',
        '400',
        '--out',
        out,
      ],
      env('rec'),
    );
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stdout).toContain(`recorded 400 messages to ${out}`);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(400);
    expect(lines.every((l) => l.source === 'simulator' && typeof l.receivedAt === 'number')).toBe(
      true,
    );
    const play = await runCli(
      ['stream', '--source', 'replay', '--file', out, '--speed', 'max', '--symbols', 'AAPL,MSFT'],
      env('play'),
    );
    expect(play.code, play.stderr).toBe(0);
    const want = tradesIn(
      lines.map((l) => l.message),
      'simulator',
    );
    expect(play.stdout).toContain(`${want.length} new trades`);
    const rows = await withDb(join(dir, 'play', 'tickline.duckdb'), (q) =>
      q(
        `SELECT symbol, epoch_ms(ts) AS ts, trade_id, source FROM trades ORDER BY symbol, ts, trade_id`,
      ),
    );
    expect(rows.map((r) => `${r.symbol}|${r.ts}|${r.trade_id}|${r.source}`)).toEqual(
      want.map((t) => `${t.symbol}|${t.ts}|${t.tradeId}|simulator`),
    );
  });

  it('replays bare Finnhub messages (the recorded AAPL session) at 20× speed', async () => {
    const res = await runCli(
      [
        'stream',
        '--source',
        'replay',
        '--file',
        join(FIXTURES, 'finnhub', 'ws-trades-AAPL-2020-04-14.jsonl'),
        '--speed',
        '20',
        '--symbols',
        'AAPL',
      ],
      env('bare'),
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('3 new trades');
    expect(res.stdout).toContain('6 duplicates dropped');
  });
});

describe('tickline stream: bad input', () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ['stream', '--source', 'replay', '--symbols', 'AAPL'],
      {},
      /--file: is required with --source replay/,
    ],
    [['stream', '--source', 'finnhub', '--symbols', 'AAPL'], {}, /FINNHUB_TOKEN/],
    [
      ['stream', '--source', 'replay', '--file', 'x', '--speed', 'fast', '--symbols', 'AAPL'],
      {},
      /--speed: "fast" is not a positive number or 'max'/,
    ],
    [
      ['stream', '--source', 'kafka', '--symbols', 'AAPL'],
      {},
      /--source: "kafka" is not one of finnhub, simulator, replay/,
    ],
    [
      ['stream', '--symbols', 'AAPL', '--fault-rate', '2'],
      {},
      /--fault-rate: "2" is not a number from 0 to 1/,
    ],
    [['stream', '--symbols', 'AAPL', '--duration', '-1'], {}, /--duration/],
    [
      ['stream', '--symbols', 'AAPL'],
      { TICKLINE_FINNHUB_WS_URL: 'http://x' },
      /TICKLINE_FINNHUB_WS_URL.*ws\(s\) URL/,
    ],
  ];
  for (const [args, extra, message] of cases) {
    it(`exits 2 naming the problem: ${args.slice(1).join(' ')} ${Object.keys(extra).join(' ')}`, async () => {
      const res = await runCli(args, { ...env('bad'), ...extra });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
    });
  }

  it('names a config value that is out of range', async () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'live:\n  allowedLatenessMs: -5\n');
    const res = await runCli(['--config', cfg, 'stream', '--symbols', 'AAPL'], env('cfg'));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/live\.allowedLatenessMs/);
  });

  it('reports a recording that cannot be read, and stores nothing', async () => {
    const res = await runCli(
      ['stream', '--source', 'replay', '--file', join(dir, 'missing.ndjson'), '--symbols', 'AAPL'],
      env('missing'),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/replay: cannot read .*missing\.ndjson/);
  });
});

describe('tickline stream and up on a terminal', () => {
  /** Runs the CLI under a pseudo-terminal (`script`), as an interactive user would. */
  async function onTerminal(args: string, vars: Record<string, string>) {
    const { spawn } = await import('node:child_process');
    const { ROOT } = await import('../helpers/cli.ts');
    const envText = Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const command = `${envText} ${process.execPath} ${join(ROOT, 'bin', 'tickline.js')} ${args}`;
    return new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
  }

  it('stream shows a live status line: trades/s, trades, bars, rejects, lag, feed state', async () => {
    const r = await onTerminal(
      'stream --symbols AAPL,MSFT --rate 400 --fault-rate 0.05 --hours always --duration 3.5',
      env('tty'),
    );
    expect(r.code).toBe(0);
    const frames = r.out.split('\r').filter((f) => f.includes('trades/s'));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    // The simulator's feed state is "simulating" once it runs (it used to stay "starting").
    expect(frames.at(-1)).toMatch(
      /[\d,]+ trades\/s \| [\d,]+ trades \| [\d,]+ bars \| [\d,]+ rejects \| [\d,]+ dups \| lag [\d,]+ ms \([\d,]+ queued\) \| simulating/,
    );
    const stored = Number(/stored into .*tickline\.duckdb: (\d+) new trades/.exec(r.out)?.[1]);
    expect(stored).toBeGreaterThan(0);
    // status counts the trades per symbol (not "rows 0"), and lists rejects-only symbols apart.
    const status = JSON.parse(
      (await runCli(['status', '--format', 'json'], env('tty'))).stdout,
    ) as {
      symbol: string;
      interval: string;
      kind: string;
      rows: number;
    }[];
    const trades = status.filter((x) => x.kind === 'trades');
    expect(trades.map((x) => x.symbol).sort()).toEqual(['AAPL', 'MSFT']);
    expect(trades.reduce((a, x) => a + x.rows, 0)).toBe(stored);
    expect(trades.every((x) => x.interval === 'trades')).toBe(true);
    const text = (await runCli(['status'], env('tty'))).stdout;
    const [data, rejected = ''] = text.split('rejected, nothing stored');
    expect(data).toMatch(/AAPL\s+trades\s+[1-9]/);
    expect(data).not.toMatch(/UNSUBSCRIBED|\(none\)/);
    expect(rejected).toMatch(/\.UNSUBSCRIBED/);
    // The trades export as the API's does, partitioned by symbol and year; the path reads cleanly.
    const lake = join(dir, 'tty-lake');
    const ex = await runCli(['export', '--layer', 'trades', '--out', `${lake}/`], env('tty'));
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(new RegExp(`^wrote \\d+ parquet files? under ${lake}/trades\n$`));
    const [n] = await withDb(join(dir, 'tty', 'tickline.duckdb'), (q) =>
      q(
        `SELECT count(*)::INT AS n FROM read_parquet('${lake}/trades/**/*.parquet', hive_partitioning = true)`,
      ),
    );
    expect(n!.n).toBe(stored);
  });

  it('up checks its port first: one line naming --port, before importing any history', async () => {
    const { createServer } = await import('node:net');
    const { existsSync } = await import('node:fs');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await runCli(['up', '--port', String(port), '--duration', '1'], env('busy'));
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `tickline: --port: ${port} on 127.0.0.1 is in use (another tickline, or another program); pick another with --port <n>, or --port 0 for any free port`,
      );
      expect(r.stdout).not.toContain('loaded the bundled history');
      expect(existsSync(join(dir, 'busy', 'tickline.duckdb'))).toBe(false);
    } finally {
      holder.close();
    }
  });

  it('up loads the bundled history once, then runs the simulator when no Finnhub token is set', async () => {
    const vars = env('up');
    const first = await runCli(['up', '--hours', 'always', '--duration', '2'], vars);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('loaded the bundled history');
    expect(first.stdout).toMatch(/live: simulator .* → AAPL, MSFT, NVDA, TSLA, SPY/);
    expect(first.stdout).toMatch(/stopped: \d+ new trades and \d+ bars stored/);
    const again = await runCli(['up', '--hours', 'always', '--duration', '1'], vars);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('loaded the bundled history');
    const counts = await withDb(join(dir, 'up', 'tickline.duckdb'), (q) =>
      q(`SELECT (SELECT count(*) FROM bars WHERE interval = '1d') AS daily,
        (SELECT count(*) FROM trades) AS trades`),
    );
    expect(Number(counts[0]!.daily)).toBeGreaterThan(5_000);
    expect(Number(counts[0]!.trades)).toBeGreaterThan(0);
  });
});
