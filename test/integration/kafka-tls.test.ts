/**
 * TLS to Kafka (log.ssl): a broker of the test's own with a TLS listener
 * (scripts/services/kafka/start.sh with KAFKA_SSL_KEYSTORE: a certificate
 * signed by a CA the test makes). With that CA in log.ssl.caFile the live
 * path runs over TLS and stores what it streamed; with another CA the
 * command stops at once, saying the certificate was not accepted, instead
 * of retrying as it would for a broker that is away.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { namespace } from '../helpers/kafka.ts';
import { freePort } from '../helpers/processes.ts';
import { issueServerCert, makeCa } from '../helpers/tls.ts';

const exec = promisify(execFile);
const dir = tempDir('tickline-kafka-tls-');
let env: NodeJS.ProcessEnv;
let tlsBrokers: string;
let ca: string;
let otherCa: string;

beforeAll(async () => {
  ca = makeCa(dir, 'kafka-test-ca');
  otherCa = makeCa(dir, 'some-other-ca');
  const { key, crt } = issueServerCert(dir, ca, 'broker');
  // Kafka's PEM keystore: the private key (PKCS#8) and the certificate chain in one file.
  const keystore = join(dir, 'broker-keystore.pem');
  writeFileSync(keystore, readFileSync(key, 'utf8') + readFileSync(crt, 'utf8'));
  const [port, cport, sport, tport] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  env = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(cport),
    KAFKA_SASL_PORT: String(sport),
    KAFKA_SSL_PORT: String(tport),
    KAFKA_DIR: join(dir, 'broker'),
    KAFKA_SSL_KEYSTORE: keystore,
  };
  await exec('bash', [join(ROOT, 'scripts/services/kafka/start.sh')], { env });
  tlsBrokers = `127.0.0.1:${tport}`;
}, 180_000);

afterAll(async () => {
  if (env) await exec('bash', [join(ROOT, 'scripts/services/kafka/stop.sh')], { env });
});

function configWith(caFile: string): string {
  const file = join(dir, `tickline-${caFile.includes('other') ? 'other' : 'ca'}.config.json`);
  writeFileSync(
    file,
    JSON.stringify({
      log: {
        kind: 'kafka',
        brokers: [tlsBrokers],
        ssl: { caFile },
        sessionTimeoutMs: 3_000,
        heartbeatIntervalMs: 500,
      },
      live: { checkpointMs: 500 },
    }),
  );
  return file;
}

const stream = (config: string, data: string) =>
  runCli(
    [
      'stream',
      '--log',
      'kafka',
      '--source',
      'simulator',
      '--symbols',
      'AAPL',
      '--hours',
      'always',
    ].concat(['--rate', '200', '--max-messages', '100']),
    {
      TICKLINE_CONFIG: config,
      TICKLINE_DATA_DIR: data,
      TICKLINE_KAFKA_NAMESPACE: namespace(),
      // The shared test broker's address is in the environment; this one's TLS listener instead.
      TICKLINE_KAFKA_BROKERS: tlsBrokers,
    },
  );

describe('log.ssl', () => {
  it('runs the live path over TLS with the CA that signed the broker’s certificate', async () => {
    const data = tempDir();
    const r = await stream(configWith(ca), data);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/100 new trades/);
    const q = await runCli(['query', 'SELECT count(*)::INT AS n FROM trades', '--format', 'json'], {
      TICKLINE_DATA_DIR: data,
    });
    expect(JSON.parse(q.stdout)).toEqual([{ n: 100 }]);
  });

  it('stops at once, naming the certificate, with another CA', async () => {
    const r = await stream(configWith(otherCa), tempDir());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Kafka's TLS certificate was not accepted");
    expect(r.stderr).toContain('check log.ssl.caFile');
  });
});
