/**
 * The deploy files, checked since no container engine runs here:
 * - deploy/compose.yaml validates against the Compose Specification's JSON
 *   schema (test/fixtures/compose/compose-spec.json);
 * - every image is pinned and listed in docs/deploy.md, every variable it
 *   reads is documented there, every TICKLINE_* variable is one tickline
 *   reads, every file it mounts is shipped (or documented as one to create),
 *   every port agrees with the config it meets (tickline's default port, the
 *   worker's metrics port, Prometheus' targets, Grafana's datasources), and
 *   the scale-out config file is a valid tickline config;
 * - the Dockerfile is multi-stage, builds the dashboard and the CLI's bundle, runs as a non-root
 *   user, and checks /api/health.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/core/config.ts';
import { ROOT, runCli } from '../helpers/cli.ts';

const DEPLOY = join(ROOT, 'deploy');
const read = (...p: string[]) => readFileSync(join(...p), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  networks?: Record<string, { aliases?: string[] }>;
}
const compose = parse(read(DEPLOY, 'compose.yaml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);
const docs = read(ROOT, 'docs', 'deploy.md');

describe('deploy/compose.yaml', () => {
  it('validates against the Compose Specification', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    // ajv-formats is CommonJS: its plugin is the default export's default.
    const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (
      a: Ajv,
    ) => Ajv;
    addFormats(ajv);
    const schema = JSON.parse(read(ROOT, 'test', 'fixtures', 'compose', 'compose-spec.json'));
    // Draft 07, which Ajv implements; its meta-schema URL (https) is not one Ajv keys it by.
    delete schema.$schema;
    const validate = ajv.compile(schema);
    // As Compose reads it: YAML merge keys (<<: *tickline) resolved.
    const ok = validate(parse(read(DEPLOY, 'compose.yaml'), { merge: true }));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The schema is not a rubber stamp: a misspelt key is refused.
    expect(validate({ services: { x: { image: 'a:1', restart_policy: 'always' } } })).toBe(false);
  });

  it('has the two profiles the README and docs describe', () => {
    const inProfile = (p: string) =>
      services.filter(([, s]) => s.profiles?.includes(p)).map(([n]) => n);
    expect(inProfile('single').sort()).toEqual(['grafana', 'prometheus', 'tickline']);
    expect(inProfile('scale-out').sort()).toEqual([
      'alertmanager',
      'cassandra',
      'grafana',
      'kafka',
      'postgres',
      'prometheus',
      'tickline-up',
      'worker',
    ]);
  });

  it('pins every image and lists it in docs/deploy.md; tickline’s tag is the package version', () => {
    const version = (JSON.parse(read(ROOT, 'package.json')) as { version: string }).version;
    for (const [name, s] of services) {
      expect(s.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(s.image, name).not.toMatch(/:latest$/);
      expect(docs, name).toContain(`\`${s.image}\``);
      if (s.build) expect(s.image).toBe(`tickline:${version}`);
    }
  });

  it('documents every variable it reads, and sets only TICKLINE_* variables tickline reads', () => {
    const text = read(DEPLOY, 'compose.yaml');
    const vars = new Set([...text.matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]!));
    expect(vars.size).toBeGreaterThan(2);
    for (const v of vars) expect(docs, v).toContain(`\`${v}\``);
    const source = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => read(e.parentPath, e.name))
      .join('\n');
    for (const [name, s] of services) {
      for (const key of Object.keys(s.environment ?? {}).filter((k) => k.startsWith('TICKLINE_'))) {
        expect(source, `${name}: ${key}`).toContain(key);
      }
    }
  });

  it('mounts only files that are shipped, or documented as ones to create and git-ignored', () => {
    const ignored = read(ROOT, '.gitignore');
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const [from] = v.split(':');
        if (!from!.startsWith('.')) {
          expect(Object.keys(compose.volumes), `${name}: ${v}`).toContain(from);
          continue;
        }
        const path = join('deploy', from!);
        if (existsSync(join(ROOT, path))) continue;
        expect(docs, `${name}: ${v}`).toContain(path);
        expect(ignored, `${name}: ${v}`).toContain(path);
      }
    }
  });

  it('agrees on ports and names with tickline, Prometheus and Grafana', async () => {
    const help = await runCli(['up', '--help']);
    const upPort = Number(/--port <n>.*\(default: "?(\d+)"?\)/.exec(help.stdout)?.[1] ?? '7070');
    const tickline = compose.services.tickline!;
    expect(tickline.ports).toEqual([`${upPort}:${upPort}`]);
    expect(tickline.command).toContain(String(upPort));
    const prom = parse(read(DEPLOY, 'prometheus', 'prometheus.yml')) as {
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
      alerting: { alertmanagers: { dns_sd_configs: { names: string[]; port: number }[] }[] };
    };
    const hosts = new Set(
      services.flatMap(([n, s]) => [
        n,
        ...Object.values(s.networks ?? {}).flatMap((x) => x.aliases ?? []),
      ]),
    );
    const job = (name: string) => prom.scrape_configs.find((j) => j.job_name === name)!;
    expect(job('tickline').static_configs![0]!.targets).toEqual([`tickline:${upPort}`]);
    expect(hosts.has('tickline')).toBe(true);
    const workers = job('tickline-workers').dns_sd_configs![0]!;
    expect(hosts.has(workers.names[0]!)).toBe(true);
    const worker = compose.services.worker!;
    expect(worker.command![worker.command!.indexOf('--metrics-port') + 1]).toBe(
      String(workers.port),
    );
    const am = prom.alerting.alertmanagers[0]!.dns_sd_configs[0]!;
    expect(compose.services[am.names[0]!]!.ports).toEqual([`${am.port}:${am.port}`]);
    const grafana = parse(
      read(DEPLOY, 'grafana', 'provisioning', 'datasources', 'tickline.yml'),
    ) as { datasources: { url: string }[] };
    for (const ds of grafana.datasources) {
      const host = ds.url.replace(/^https?:\/\//, '').split(':')[0]!;
      expect(hosts.has(host), ds.url).toBe(true);
    }
    expect(compose.services.prometheus!.ports).toEqual(['9090:9090']);
  });

  it('gives the scale-out services a config tickline accepts', () => {
    const cfg = loadConfig({ file: join(DEPLOY, 'tickline', 'scale-out.config.yaml'), env: {} });
    expect(cfg.log.kind).toBe('kafka');
    expect(cfg.log.brokers).toEqual(['kafka:9092']);
    expect(compose.services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS).toBe(
      'PLAINTEXT://kafka:9092',
    );
    for (const name of ['tickline-up', 'worker']) {
      const s = compose.services[name]!;
      const mount = s.volumes!.find((v) => v.includes('scale-out.config.yaml'))!;
      expect(s.environment!.TICKLINE_CONFIG).toBe(mount.split(':')[1]);
    }
  });
});

describe('Dockerfile', () => {
  const docker = read(ROOT, 'Dockerfile');
  it('is multi-stage, builds the dashboard, runs as a non-root user and checks /api/health', () => {
    expect(docker.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(docker).toMatch(/^FROM node:(\d+)\.[\d.]+-\S+ AS build$/m);
    expect(docker).toContain('npm run build:web');
    // The CLI's bundle is made in the build stage (after the prune: from what the image keeps).
    expect(docker).toMatch(/npm prune --omit=dev && node bin\/tickline\.js --version/);
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/^HEALTHCHECK .*\n?.*\/api\/health/m);
    expect(docker).toMatch(/^EXPOSE 7070$/m);
    // The Node it runs is within package.json's engines.
    const engines = (JSON.parse(read(ROOT, 'package.json')) as { engines: { node: string } })
      .engines.node;
    const floor = /(\d+\.\d+\.\d+)/.exec(engines)![1]!;
    for (const m of docker.matchAll(/^FROM node:(\d+\.\d+\.\d+)/gm)) expect(m[1]).toBe(floor);
    // What .dockerignore leaves out is rebuilt inside.
    expect(read(ROOT, '.dockerignore')).toMatch(/^node_modules$/m);
  });
});
