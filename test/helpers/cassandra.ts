/** Keyspaces of their own for tests on the Cassandra node the test setup started (or found). */
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';

export const CASSANDRA_ADDR = process.env.TICKLINE_CASSANDRA ?? '127.0.0.1:19042';

/** A cassandra:// URL of a new keyspace name (the store creates it); `drop()` removes it. */
export function freshKeyspace(prefix = 'tl'): {
  url: string;
  keyspace: string;
  drop: () => Promise<void>;
} {
  const keyspace = `${prefix}_${randomBytes(6).toString('hex')}`;
  return {
    keyspace,
    url: `cassandra://${CASSANDRA_ADDR}/${keyspace}`,
    drop: async () => {
      const c = new cassandra.Client({
        contactPoints: [CASSANDRA_ADDR],
        localDataCenter: 'datacenter1',
      });
      try {
        await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      } finally {
        await c.shutdown();
      }
    },
  };
}
