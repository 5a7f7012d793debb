import { afterAll } from 'vitest';
import { openStoreAt } from '../../src/store/open-store.ts';
import { freshDatabase } from '../helpers/pg.ts';
import { storeContract } from './store-contract.ts';

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

storeContract('postgres', async () => {
  const db = await freshDatabase('tl_contract');
  drops.push(db.drop);
  return openStoreAt(db.url);
});
