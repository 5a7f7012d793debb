/**
 * The test setup names the Kafka broker and Cassandra node it reuses, and
 * refuses something else answering on their ports instead of reusing it.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { identify } from '../global-setup.ts';

describe('test setup', () => {
  it('names the broker and the node it uses', async () => {
    const kafka = process.env.TICKLINE_KAFKA_BROKERS!.split(',')[0]!;
    expect(await identify('kafka', kafka)).toMatch(/^Kafka cluster \S+ \(1 broker\)$/);
    expect(await identify('cassandra', process.env.TICKLINE_CASSANDRA!)).toMatch(
      /^Cassandra 5\.0\.\d+ \(cluster /,
    );
  });

  it('does not take a server of another kind for Kafka or Cassandra', async () => {
    // Something that accepts connections and answers like an HTTP server.
    const other = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => other.listen({ host: '127.0.0.1', port: 0 }, r));
    const addr = `127.0.0.1:${(other.address() as { port: number }).port}`;
    try {
      await expect(identify('kafka', addr)).rejects.toThrow();
      await expect(identify('cassandra', addr)).rejects.toThrow();
    } finally {
      other.close();
    }
  });
});
