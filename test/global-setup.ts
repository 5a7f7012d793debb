/**
 * Before the suite: a real Kafka broker and a real Cassandra node for the
 * tests that need them. If none answers at TICKLINE_KAFKA_BROKERS (default
 * 127.0.0.1:19092) or TICKLINE_CASSANDRA (default 127.0.0.1:19042), this
 * starts one with scripts/services/<name>/start.sh (Java 17 + Maven, the
 * server from Maven Central) and stops it after the suite. `.ci/run` starts
 * them itself. It also makes the CLI's build (bin/build.js) the tests' processes run from.
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

/**
 * What answers at `addr`, asked in the service's own protocol: a line naming
 * it, or an error when it is not that service (a test would fail obscurely).
 */
export async function identify(name: 'kafka' | 'cassandra', addr: string): Promise<string> {
  if (name === 'kafka') {
    const { Admin } = await import('@platformatic/kafka');
    const admin = new Admin({ clientId: 'test-setup', bootstrapBrokers: [addr], timeout: 5_000 });
    try {
      const md = await admin.metadata({ topics: [] });
      return `Kafka cluster ${md.id} (${md.brokers.size} broker${md.brokers.size === 1 ? '' : 's'})`;
    } finally {
      await admin.close();
    }
  }
  const { Client } = (await import('cassandra-driver')).default;
  const [host, port] = [
    addr.slice(0, addr.lastIndexOf(':')),
    addr.slice(addr.lastIndexOf(':') + 1),
  ];
  const client = new Client({
    contactPoints: [host],
    protocolOptions: { port: Number(port) },
    localDataCenter: 'datacenter1',
    socketOptions: { connectTimeout: 5_000, readTimeout: 5_000 },
  });
  try {
    const row = (
      await client.execute('SELECT cluster_name, release_version FROM system.local')
    ).first();
    return `Cassandra ${row.release_version} (cluster ${row.cluster_name})`;
  } finally {
    await client.shutdown();
  }
}

/**
 * Starts a service with its script when nothing answers at `addr`; returns how
 * to stop it. What already answers is checked to be that service and named,
 * never reused silently (each test still works in a namespace or keyspace of
 * its own).
 */
async function ensure(
  name: 'kafka' | 'cassandra',
  addr: string,
  env: NodeJS.ProcessEnv,
): Promise<() => void> {
  if (await reachable(addr)) {
    let what: string;
    try {
      what = await identify(name, addr);
    } catch (err) {
      throw new Error(
        `test setup: something answers at ${addr}, but not as ${name} does (${(err as Error).message}); stop it, or point the tests elsewhere (TICKLINE_KAFKA_BROKERS, TICKLINE_CASSANDRA)`,
      );
    }
    console.log(`test setup: using the ${what} already at ${addr} (not stopped afterwards)`);
    return () => {};
  }
  console.log(
    `test setup: nothing answers at ${addr}; starting ${name} (scripts/services/${name}/start.sh)`,
  );
  execFileSync('bash', [join(root, `scripts/services/${name}/start.sh`)], {
    env,
    stdio: 'inherit',
  });
  return () => {
    execFileSync('bash', [join(root, `scripts/services/${name}/stop.sh`)], {
      env,
      stdio: 'inherit',
    });
  };
}

export default async function setup(): Promise<() => void> {
  // The CLI's build, made once here rather than by the first test processes at once.
  execFileSync(process.execPath, [join(root, 'bin', 'tickline.js'), '--version'], {
    stdio: 'ignore',
  });
  const brokers = process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092';
  process.env.TICKLINE_KAFKA_BROKERS = brokers;
  const first = brokers.split(',')[0]!;
  const cassandra = process.env.TICKLINE_CASSANDRA ?? '127.0.0.1:19042';
  process.env.TICKLINE_CASSANDRA = cassandra;
  const stops = [
    await ensure('kafka', first, { ...process.env, KAFKA_PORT: first.split(':').pop()! }),
    await ensure('cassandra', cassandra, {
      ...process.env,
      CASSANDRA_PORT: cassandra.split(':').pop()!,
    }),
  ];
  return () => {
    for (const stop of stops.reverse()) stop();
  };
}
