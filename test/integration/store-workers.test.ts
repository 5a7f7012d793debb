/**
 * Parallel writers into the shared PostgreSQL store over a real Kafka
 * broker: a process worker, and two `tickline worker --stages store --store
 * postgres://…` processes sharing the store stage's partitions. One store
 * worker is killed with SIGKILL mid-stream; the other takes over its
 * partitions from their committed offsets (committed after each write). The
 * stored series (bars and curated indicators), trades and quarantine equal a
 * single-process run of the same session on the embedded store, read
 * through the store contract.
 */
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../src/log/log.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import { startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import {
  BROKERS,
  backlog,
  committedOffsets,
  KAFKA_SYMBOLS,
  kafkaConfig,
  namespace,
  referenceRun,
  startIngest,
  until,
} from '../helpers/kafka.ts';
import { freshDatabase } from '../helpers/pg.ts';
import { storeSnapshot } from '../helpers/store-snapshot.ts';

const SYMBOLS = KAFKA_SYMBOLS;
const dir = tempDir('tickline-store-workers-');
const session = join(dir, 'session.ndjson');
let db: Awaited<ReturnType<typeof freshDatabase>>;

async function snapshot(where: string) {
  const store = await openStoreAt(where);
  try {
    return await storeSnapshot(store, SYMBOLS);
  } finally {
    await store.close();
  }
}

let reference: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  await referenceRun(session, join(dir, 'reference'), 8_000, {
    symbols: SYMBOLS,
    seed: 31,
    tradesPerSecond: 1_000,
    tradesPerMessage: 2,
    faultRate: 0.01,
    duplicateRate: 0.02,
    startTs: Date.UTC(2024, 4, 7, 14),
  });
  reference = await snapshot(join(dir, 'reference', 'tickline.duckdb'));
  expect(Object.values(reference.trades).flat().length).toBeGreaterThan(10_000);
  db = await freshDatabase('tl_workers');
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

describe('store workers over Kafka into PostgreSQL', () => {
  it('two store workers, one killed with SIGKILL mid-stream: the tables equal a single-process run', async () => {
    const ns = namespace();
    const env = { TICKLINE_CONFIG: kafkaConfig(dir), TICKLINE_KAFKA_NAMESPACE: ns };
    const worker = (name: string, args: string[]) =>
      startCli(['worker', ...args], { ...env, TICKLINE_DATA_DIR: join(dir, name) });
    const processor = worker('process', ['--symbols', SYMBOLS.join(',')]);
    const s1 = worker('s1', ['--stages', 'store', '--store', db.url]);
    const s2 = worker('s2', ['--stages', 'store', '--store', db.url]);
    const admin = new Admin({ clientId: 'test', bootstrapBrokers: BROKERS.split(',') });
    const members = async (group: string): Promise<number> => {
      try {
        const g = (await admin.describeGroups({ groups: [group] })).get(group);
        return g?.state === 'STABLE' ? g.members.size : 0;
      } catch {
        return 0;
      }
    };
    const storeGroup = `${ns}store.${TOPICS.trades}`;
    await until(async () => (await members(storeGroup)) === 2, 60_000, 'two store workers');
    await until(
      async () => (await members(`${ns}process.${TOPICS.rawTrades}`)) === 1,
      60_000,
      'the process worker',
    );
    const ingest = startIngest(env, session, SYMBOLS);
    await until(
      async () => (await committedOffsets(BROKERS, ns, TOPICS.trades, 'store')) > 0,
      60_000,
      'the store workers to store part of the feed',
    );
    expect(ingest.child.exitCode).toBeNull();
    s1.child.kill('SIGKILL');
    await s1.done;
    const fed = await ingest.done;
    expect(fed.code, fed.stderr).toBe(0);
    await until(async () => (await members(storeGroup)) === 1, 30_000, 'the group to drop it');
    await until(async () => (await backlog(ns)) === 0, 90_000, 'every record stored');
    await admin.close();
    processor.child.kill('SIGTERM');
    s2.child.kill('SIGTERM');
    const [rp, r2] = await Promise.all([processor.done, s2.done]);
    expect(rp.code, rp.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);

    const got = await snapshot(db.url);
    expect(got.trades).toEqual(reference.trades);
    // Each record once, as in the reference. Not compared: received_at (when a stage saw it) and
    // the message (over Kafka's JSON a NaN price reads "null", in process "NaN").
    const records = (q: typeof got.quarantine) =>
      (q ?? [])
        .map((r) => ({ ...r, receivedAt: 0, message: '' }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(records(got.quarantine)).toEqual(records(reference.quarantine));
    expect(Object.keys(got.series)).toEqual(Object.keys(reference.series));
    expect(got.series).toEqual(reference.series);
  }, 300_000);
});
