import { afterAll } from 'vitest';
import { openStoreAt } from '../../src/store/open-store.ts';
import { freshKeyspace } from '../helpers/cassandra.ts';
import { storeContract } from './store-contract.ts';

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

storeContract(
  'cassandra',
  async () => {
    const ks = freshKeyspace('tl_contract');
    drops.push(ks.drop);
    return openStoreAt(ks.url);
  },
  // The bulk load's row counts for a single node under a 512 MB heap.
  { bulkRows: 20_000 },
);
