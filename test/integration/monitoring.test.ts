/**
 * The monitoring assets under deploy/, checked with the real tools:
 * - Prometheus' config, recording and alert rules pass `promtool check` and
 *   every alert's unit tests (`promtool test rules`); Alertmanager's config
 *   passes `amtool check-config`.
 * - A running `tickline up` exports metrics `promtool check metrics` finds
 *   clean, and every metric the rules and the Grafana dashboards name.
 * - Every Grafana panel's PromQL parses (promtool, as recording rules), its
 *   datasource is provisioned, and every SQL panel runs on a real PostgreSQL
 *   store.
 * - End to end: Debian's Prometheus scrapes tickline, whose Finnhub feed goes
 *   silent; the shipped TicklineFeedStale rule fires (its `for:` shortened to
 *   1 s here; promtool tests the minute), Alertmanager routes it as shipped,
 *   and a real SMTP server (aiosmtpd) gets the mail while tickline's webhook
 *   records it in its alert history.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { openStoreAt } from '../../src/store/open-store.ts';
import { ROOT, type RunningServer, runCli, startCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { kafkaConfig, namespace, until } from '../helpers/kafka.ts';
import { freshDatabase } from '../helpers/pg.ts';
import { freePort, run, type Service, startService } from '../helpers/processes.ts';
import { type FinnhubServer, startFinnhubServer } from '../helpers/ws-server.ts';

const DEPLOY = join(ROOT, 'deploy');
const PROM = join(DEPLOY, 'prometheus');
const GRAFANA = join(DEPLOY, 'grafana');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
}
type RuleFile = { groups: { name: string; rules: Rule[] }[] };

const ruleFile = (name: string): RuleFile =>
  parse(readFileSync(join(PROM, 'rules', name), 'utf8')) as RuleFile;
const allRules = (): Rule[] =>
  ['recording.yml', 'alerts.yml'].flatMap((f) => ruleFile(f).groups.flatMap((g) => g.rules));

interface Target {
  expr?: string;
  rawSql?: string;
  datasource?: { uid: string };
}
interface Panel {
  title: string;
  type: string;
  datasource?: { uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; datasource?: { uid: string }; query?: unknown }[] };
}
const dashboards = (): Dashboard[] =>
  readdirSync(join(GRAFANA, 'dashboards')).map(
    (f) => JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard,
  );
const panelExprs = (): { where: string; expr: string }[] =>
  dashboards().flatMap((d) =>
    d.panels.flatMap((p) =>
      (p.targets ?? [])
        .filter((t) => t.expr !== undefined)
        .map((t) => ({ where: `${d.uid} / ${p.title}`, expr: t.expr! })),
    ),
  );

/** The metric and recording-rule names a PromQL expression reads. */
function namesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((n) => n.startsWith('tickline') || n === 'up' || n === 'ALERTS');
}

/** Sample names an exposition declares: histograms and summaries with their series. */
function exported(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    out.add(name!);
    if (type === 'histogram' || type === 'summary') {
      for (const s of ['_bucket', '_sum', '_count']) out.add(`${name}${s}`);
    }
  }
  return out;
}

const tool = (cmd: string, ...args: string[]) => run(cmd, args);

describe('deploy/prometheus and deploy/alertmanager, checked by their own tools', () => {
  it('promtool accepts the config and the rules', async () => {
    const config = await tool('promtool', 'check', 'config', join(PROM, 'prometheus.yml'));
    expect(config.out).toContain('SUCCESS');
    expect(config.code).toBe(0);
    const rules = await tool(
      'promtool',
      'check',
      'rules',
      join(PROM, 'rules', 'recording.yml'),
      join(PROM, 'rules', 'alerts.yml'),
    );
    expect(rules.code, rules.out).toBe(0);
  });

  it('every alert rule has a unit test that passes', async () => {
    const tests = readdirSync(join(PROM, 'tests')).map((f) => join(PROM, 'tests', f));
    const r = await run('promtool', ['test', 'rules', ...tests]);
    expect(r.code, r.out).toBe(0);
    const tested = new Set(
      tests.flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]),
      ),
    );
    const alerts = allRules().flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });

  it('amtool accepts the Alertmanager config', async () => {
    const r = await tool(
      'amtool',
      'check-config',
      join(DEPLOY, 'alertmanager', 'alertmanager.yml'),
    );
    expect(r.code, r.out).toBe(0);
  });
});

describe('deploy/grafana', () => {
  it('every panel and variable uses a provisioned datasource', () => {
    const prov = parse(
      readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'tickline.yml'), 'utf8'),
    ) as { datasources: { uid: string }[] };
    const uids = new Set(prov.datasources.map((d) => d.uid));
    const used = dashboards().flatMap((d) => [
      ...d.panels.flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]),
      ...d.templating.list.map((v) => v.datasource),
    ]);
    const missing = used.filter((ds) => ds !== undefined && !uids.has(ds.uid));
    expect(missing).toEqual([]);
    expect(used.filter((ds) => ds !== undefined).length).toBeGreaterThan(20);
  });

  it('every panel’s PromQL parses (promtool, written as recording rules)', async () => {
    const exprs = panelExprs();
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    const file = join(tempDir(), 'dashboard-exprs.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboards',
            rules: exprs.map((e, i) => ({ record: `dashboard:check_${i}`, expr: e.expr })),
          },
        ],
      }),
    );
    const r = await tool('promtool', 'check', 'rules', file);
    expect(r.code, r.out).toBe(0);
  });

  it('every SQL panel and variable runs on a real PostgreSQL store', async () => {
    const db = await freshDatabase('tlgraf');
    const store = await openStoreAt(db.url);
    try {
      const sqls = dashboards().flatMap((d) => [
        ...d.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => (t.rawSql ? [t.rawSql] : []))),
        ...d.templating.list.flatMap((v) =>
          v.datasource?.uid === 'tickline-pg' && typeof v.query === 'string' ? [v.query] : [],
        ),
      ]);
      expect(sqls.length).toBeGreaterThanOrEqual(5);
      for (const sql of sqls) {
        // Grafana's macros and variables, as Grafana expands them.
        const q = sql
          .replace(
            /\$__timeFilter\((\w+)\)/g,
            "$1 BETWEEN '2024-01-01T00:00:00Z' AND '2024-12-31T00:00:00Z'",
          )
          .replaceAll('$symbol', 'AAPL')
          .replaceAll('$interval', '1d');
        await expect(store.capability('sql').sql(q), q).resolves.toBeDefined();
      }
    } finally {
      await store.close();
      await db.drop();
    }
  });
});

describe('a live-path worker', () => {
  it('serves /metrics on --metrics-port that promtool check metrics finds clean', async () => {
    const dir = tempDir();
    const worker = startCli(['worker', '--log', 'kafka', '--metrics-port', '0'], {
      TICKLINE_CONFIG: kafkaConfig(dir),
      TICKLINE_KAFKA_NAMESPACE: namespace(),
      TICKLINE_DATA_DIR: dir,
    });
    let out = '';
    worker.child.stdout?.on('data', (d) => {
      out += d;
    });
    try {
      await until(() => /metrics: (http:\S+)/.test(out), 60_000, 'the worker’s metrics address');
      const url = /metrics: (http:\S+)/.exec(out)![1]!;
      const text = await (await fetch(url)).text();
      expect(text).toMatch(/^# TYPE tickline_stage_records_total counter/m);
      const r = await run('promtool', ['check', 'metrics'], text);
      expect(r.out).toBe('');
      expect(r.code).toBe(0);
      expect((await fetch(url.replace('/metrics', '/api/health'))).status).toBe(200);
      expect((await fetch(url.replace('/metrics', '/api/bars'))).status).toBe(404);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.done;
    }
  });
});

describe('a running tickline, Prometheus, Alertmanager and an SMTP server', () => {
  const services: Service[] = [];
  let server: RunningServer;
  let finnhub: FinnhubServer;
  let metricsText = '';
  const dir = tempDir();

  beforeAll(async () => {
    finnhub = await startFinnhubServer({ session: [] });
    const config = join(dir, 'tickline.config.yaml');
    writeFileSync(
      config,
      stringify({
        sources: { finnhub: { wsUrl: finnhub.url, staleAfterMs: 500, marketHours: 'always' } },
      }),
    );
    const env = {
      TICKLINE_DATA_DIR: join(dir, 'data'),
      TICKLINE_CONFIG: config,
      FINNHUB_TOKEN: 'monitoring-test',
    };
    const key = (await runCli(['keys', 'create', '--scope', 'admin'], env)).stdout.trim();
    writeFileSync(join(dir, 'tickline-admin-key'), key);
    server = await startServer(['--port', '0', '--symbols', 'AAPL'], env);
    // Some API traffic, so the HTTP series exist.
    for (const path of ['/api/health', '/api/bars?symbol=AAPL&interval=1d', '/api/nope']) {
      await fetch(`${server.url}${path}`).then((r) => r.arrayBuffer());
    }
    await until(
      async () => {
        metricsText = await (await fetch(`${server.url}/metrics`)).text();
        return /tickline_feed_state\{feed="finnhub",state="stale"\} 1/.test(metricsText);
      },
      120_000,
      'the silent feed to be reported stale on /metrics',
    );
  }, 180_000);

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    await server?.stop();
    await finnhub?.close();
  });

  it('exports metrics promtool check metrics finds clean', async () => {
    const r = await run('promtool', ['check', 'metrics'], metricsText);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    // The default gauges prom-client names with _total are gone; their by-type gauges stay.
    expect(metricsText).not.toMatch(/^tickline_nodejs_active_handles_total/m);
    expect(metricsText).toMatch(/^# TYPE tickline_nodejs_active_handles gauge/m);
    expect(metricsText).toMatch(/^tickline_data_dir_bytes \d+/m);
    expect(metricsText).toMatch(/^tickline_data_dir_filesystem_avail_bytes \d+/m);
  });

  it('exports every metric the rules and the dashboards name', () => {
    const have = exported(metricsText);
    const rules = allRules();
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const prometheus = new Set(['up', 'ALERTS']);
    const named = [
      ...rules.map((r) => ({ where: r.alert ?? r.record!, expr: r.expr })),
      ...panelExprs(),
    ].flatMap(({ where, expr }) => namesIn(expr).map((name) => ({ where, name })));
    expect(named.length).toBeGreaterThan(40);
    const unknown = named.filter(
      ({ name }) => !have.has(name) && !recorded.has(name) && !prometheus.has(name),
    );
    expect(unknown).toEqual([]);
  });

  it('fires the stale-feed alert through Alertmanager to an SMTP server and tickline’s webhook', async () => {
    const smtpPort = await freePort();
    const smtp = startService('/usr/bin/python3', [
      '-u',
      '-m',
      'aiosmtpd',
      '-n',
      '-l',
      `127.0.0.1:${smtpPort}`,
    ]);
    services.push(smtp);
    await until(() => accepts(smtpPort), 60_000, 'aiosmtpd to listen');

    // Alertmanager as shipped, pointed at this SMTP server and this tickline; groups sent at once.
    const am = parse(readFileSync(join(DEPLOY, 'alertmanager', 'alertmanager.yml'), 'utf8'));
    am.global.smtp_smarthost = `127.0.0.1:${smtpPort}`;
    am.global.smtp_require_tls = false;
    am.route.group_wait = '0s';
    am.route.group_interval = '1s';
    const hook = am.receivers[0].webhook_configs[0];
    hook.url = `${server.url}/api/alerts/alertmanager`;
    hook.http_config.authorization.credentials_file = join(dir, 'tickline-admin-key');
    writeFileSync(join(dir, 'alertmanager.yml'), stringify(am));
    const amPort = await freePort();
    const alertmanager = startService('prometheus-alertmanager', [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ]);
    services.push(alertmanager);
    await until(
      () => ready(`http://127.0.0.1:${amPort}/-/ready`),
      60_000,
      `Alertmanager to be ready:\n${alertmanager.output()}`,
    );

    // Prometheus as shipped, scraping this tickline every second; the stale rule's `for` is 1 s.
    const prom = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8'));
    prom.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    prom.alerting.alertmanagers = [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }];
    prom.scrape_configs = prom.scrape_configs
      .filter((s: { job_name: string }) => s.job_name === 'tickline')
      .map((s: Record<string, unknown>) => ({
        ...s,
        static_configs: [{ targets: [new URL(server.url).host] }],
      }));
    const alerts = ruleFile('alerts.yml');
    const stale = alerts.groups[0]!.rules.find((r) => r.alert === 'TicklineFeedStale')!;
    expect(stale.for).toBe('1m');
    stale.for = '1s';
    writeFileSync(join(dir, 'alerts.yml'), stringify(alerts));
    writeFileSync(join(dir, 'recording.yml'), readFileSync(join(PROM, 'rules', 'recording.yml')));
    prom.rule_files = [join(dir, 'recording.yml'), join(dir, 'alerts.yml')];
    writeFileSync(join(dir, 'prometheus.yml'), stringify(prom));
    const promPort = await freePort();
    const prometheus = startService('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prom')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    services.push(prometheus);

    await until(
      () => smtp.output().includes('TicklineFeedStale'),
      150_000,
      `the mail from Alertmanager:\nprometheus: ${prometheus.output().slice(-2000)}\nalertmanager: ${alertmanager.output().slice(-2000)}`,
    );
    const mail = quotedPrintable(smtp.output());
    expect(mail).toContain('ops@example.com');
    expect(mail).toMatch(/the finnhub feed on 127\.0\.0\.1:\d+ is stale/);

    let history: { rule: string; channel: string; state: string; subject: string }[] = [];
    await until(
      async () => {
        history = (
          (await (await fetch(`${server.url}/api/alerts`)).json()) as { alerts: typeof history }
        ).alerts;
        return history.some((a) => a.rule === 'TicklineFeedStale');
      },
      60_000,
      'the alert in tickline’s history',
    );
    const got = history.filter((a) => a.rule === 'TicklineFeedStale');
    expect(got[0]).toMatchObject({ channel: 'alertmanager:ops', state: 'firing' });
    expect(got[0]!.subject).toMatch(/^\[firing\] the finnhub feed on .* is stale$/);
    // Alertmanager repeats the group (group_interval 1 s here): recorded once all the same.
    expect(got.filter((a) => a.state === 'firing')).toHaveLength(1);
  });
});

/** A mail body as sent (quoted-printable: soft line breaks and =XX escapes). */
function quotedPrintable(s: string): string {
  return s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}
