import { join } from 'node:path';
import { DuckDBStore } from '../../src/store/duckdb/duckdb-store.ts';
import { tempDir } from '../helpers/db.ts';
import { storeContract } from './store-contract.ts';

storeContract('duckdb (file)', () => DuckDBStore.open(join(tempDir(), 'contract.duckdb')));
