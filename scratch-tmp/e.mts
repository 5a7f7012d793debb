import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
const c = await db.connect();
try {
  await c.run(`ATTACH '/tmp/scratch/enc.duckdb' AS s (ENCRYPTION_KEY 'abc')`);
  await c.run(`CREATE TABLE s.t AS SELECT 1 AS x`);
  console.log('wrote');
} catch (e) { console.log('ERR', (e as Error).message); }
try { await c.run(`LOAD httpfs`); } catch (e) { console.log('LOAD ERR', (e as Error).message); }
const r = await c.runAndReadAll(`SELECT current_setting('extension_directory') AS d, version() AS v`);
console.log(r.getRowObjectsJson());
