/**
 * Before the suite: a real Kafka broker for the tests that need one. If none
 * answers at TICKLINE_KAFKA_BROKERS (default 127.0.0.1:19092), this starts
 * one with scripts/services/kafka/start.sh (Java 17 + Maven, the broker from
 * Maven Central) and stops it after the suite. `.ci/run` starts it itself.
 */
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

function reachable(hostPort: string): Promise<boolean> {
  const [host, port] = [
    hostPort.slice(0, hostPort.lastIndexOf(':')),
    hostPort.slice(hostPort.lastIndexOf(':') + 1),
  ];
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port) });
    s.setTimeout(1_000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export default async function setup(): Promise<() => void> {
  const brokers = process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092';
  process.env.TICKLINE_KAFKA_BROKERS = brokers;
  if (await reachable(brokers.split(',')[0]!)) return () => {};
  const port = brokers.split(',')[0]!.split(':').pop()!;
  const env = { ...process.env, KAFKA_PORT: port };
  console.log(
    `test setup: no Kafka broker at ${brokers}; starting one (scripts/services/kafka/start.sh)`,
  );
  execFileSync('bash', [join(root, 'scripts/services/kafka/start.sh')], { env, stdio: 'inherit' });
  return () => {
    execFileSync('bash', [join(root, 'scripts/services/kafka/stop.sh')], { env, stdio: 'inherit' });
  };
}
