/**
 * Encryption at rest for the embedded store: DuckDB's own database
 * encryption, keyed by TICKLINE_STORE_KEY (the environment only). DuckDB
 * writes encrypted files only with its httpfs extension (OpenSSL) loaded,
 * from store.extensionDirectory; nothing is downloaded. Without it tickline
 * stops before writing anything, naming what is missing, and never falls
 * back to DuckDB's unsafe crypto or to a plain file.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ROOT, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const CSV = join(ROOT, 'test', 'fixtures', 'csv', 'no-symbol.csv');
const KEY = 'canary-store-key-7f3a9c';

/** An extension directory holding httpfs for this DuckDB, if the machine has one. */
function httpfsDirectory(): string | null {
  for (const dir of [
    process.env.TICKLINE_TEST_DUCKDB_EXTENSIONS,
    join(homedir(), '.duckdb', 'extensions'),
  ]) {
    if (!dir || !existsSync(dir)) continue;
    for (const version of readdirSync(dir)) {
      for (const platform of readdirSync(join(dir, version))) {
        if (existsSync(join(dir, version, platform, 'httpfs.duckdb_extension'))) return dir;
      }
    }
  }
  return null;
}
const HTTPFS = httpfsDirectory();

describe('TICKLINE_STORE_KEY', () => {
  it('without httpfs in store.extensionDirectory, stops before writing, naming what is missing', async () => {
    const dir = tempDir();
    const r = await runCli(['import', CSV, '--symbol', 'AAPL'], {
      TICKLINE_DATA_DIR: dir,
      TICKLINE_STORE_KEY: KEY,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "TICKLINE_STORE_KEY is set, so the DuckDB file is to be encrypted, but DuckDB's httpfs extension",
    );
    expect(r.stderr).toContain('store.extensionDirectory (not set)');
    expect(r.stderr).toContain('encrypt the filesystem instead (LUKS, fscrypt)');
    expect(r.stderr + r.stdout).not.toContain(KEY);
    // Nothing was written, encrypted or not.
    expect(existsSync(join(dir, 'tickline.duckdb'))).toBe(false);

    const empty = tempDir();
    const config = join(dir, 'tickline.config.yaml');
    writeFileSync(config, stringify({ store: { extensionDirectory: empty } }));
    const named = await runCli(['status'], {
      TICKLINE_DATA_DIR: dir,
      TICKLINE_STORE_KEY: KEY,
      TICKLINE_CONFIG: config,
    });
    expect(named.code).not.toBe(0);
    expect(named.stderr).toContain(`store.extensionDirectory (${empty})`);
  });

  it.skipIf(HTTPFS === null)(
    'with httpfs present, writes a file only the key opens (skipped: no httpfs extension on this machine; set TICKLINE_TEST_DUCKDB_EXTENSIONS)',
    async () => {
      const dir = tempDir();
      const config = join(dir, 'tickline.config.yaml');
      writeFileSync(config, stringify({ store: { extensionDirectory: HTTPFS } }));
      const env = { TICKLINE_DATA_DIR: dir, TICKLINE_CONFIG: config, TICKLINE_STORE_KEY: KEY };
      const r = await runCli(['import', CSV, '--symbol', 'ENCRYPTEDSYM'], env);
      expect(r.code, r.stderr).toBe(0);
      const bytes = readFileSync(join(dir, 'tickline.duckdb'));
      expect(bytes.includes('ENCRYPTEDSYM')).toBe(false);
      const withKey = await runCli(['query', 'SELECT symbol FROM bars', '--format', 'json'], env);
      expect(JSON.parse(withKey.stdout)).toEqual([{ symbol: 'ENCRYPTEDSYM' }]);
      const without = await runCli(['status'], { TICKLINE_DATA_DIR: dir });
      expect(without.code).not.toBe(0);
      expect(without.stderr).toContain('set TICKLINE_STORE_KEY');
    },
  );
});
