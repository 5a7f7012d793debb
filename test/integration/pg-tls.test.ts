/**
 * TLS to the PostgreSQL store with sslmode=verify-full: the test makes a CA
 * and a server certificate (openssl), switches SSL on in the machine's
 * PostgreSQL with them (ALTER SYSTEM + reload; switched off again after),
 * then connects with the CA (encrypted, verified) and with another CA
 * (refused with an error that says so).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../../src/store/open-store.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { freshDatabase, PG_ADMIN_URL } from '../helpers/pg.ts';
import { issueServerCert, makeCa } from '../helpers/tls.ts';

async function admin(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Until a new connection sees `ssl` as `want` (a reload applies to new sessions). */
async function sslIs(want: 'on' | 'off'): Promise<void> {
  for (;;) {
    const { rows } = await admin('SHOW ssl');
    if (rows[0]?.ssl === want) return;
    await new Promise((r) => setImmediate(r));
  }
}

let dir: string;
let ca: string;
let wrongCa: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;

beforeAll(async () => {
  dir = tempDir('tickline-tls-');
  ca = makeCa(dir, 'tickline-test-ca');
  wrongCa = makeCa(dir, 'some-other-ca');
  // The server's key and certificate, signed by the CA, naming localhost and 127.0.0.1.
  const { key, crt } = issueServerCert(dir, ca);
  // PostgreSQL reads them as its own user and wants the key private to it.
  const served = join(dir, 'served');
  mkdirSync(served);
  const { uid, gid } = (() => {
    const line = execFileSync('id', ['postgres']).toString();
    return { uid: Number(/uid=(\d+)/.exec(line)![1]), gid: Number(/gid=(\d+)/.exec(line)![1]) };
  })();
  for (const [from, name] of [
    [crt, 'server.crt'],
    [key, 'server.key'],
  ] as const) {
    const to = join(served, name);
    writeFileSync(to, execFileSync('cat', [from]));
    chownSync(to, uid, gid);
    chmodSync(to, 0o600);
  }
  chmodSync(dir, 0o755);
  chmodSync(served, 0o755);
  await admin(`ALTER SYSTEM SET ssl_cert_file = '${join(served, 'server.crt')}'`);
  await admin(`ALTER SYSTEM SET ssl_key_file = '${join(served, 'server.key')}'`);
  await admin('ALTER SYSTEM SET ssl = on');
  await admin('SELECT pg_reload_conf()');
  await sslIs('on');
  db = await freshDatabase('tl_tls');
}, 120_000);

afterAll(async () => {
  await db?.drop();
  await admin('ALTER SYSTEM RESET ssl');
  await admin('ALTER SYSTEM RESET ssl_cert_file');
  await admin('ALTER SYSTEM RESET ssl_key_file');
  await admin('SELECT pg_reload_conf()');
  await sslIs('off');
});

const urlWith = (caFile: string) =>
  `postgres://postgres@localhost:5432/${db.name}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`;

describe('the PostgreSQL store over TLS (verify-full)', () => {
  it('connects with the CA that signed the server certificate, encrypted', async () => {
    const store = await openStoreAt(urlWith(ca));
    try {
      const bar = {
        symbol: 'TLS',
        interval: '1d' as const,
        ts: Date.UTC(2024, 0, 2),
        open: 1,
        high: 2,
        low: 0.5,
        close: 1.5,
        volume: 10,
        adjClose: null,
        source: 'test',
      };
      await store.write({ raw: [], bars: [bar], rejects: [], actions: [], instruments: [] });
      expect(await store.readBars({ symbol: 'TLS', interval: '1d' })).toEqual([bar]);
      const res = await store
        .capability('sql')
        .sql('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(res.rows[0]?.ssl).toBe(true);
      expect(String(res.rows[0]?.version)).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await store.close();
    }
  });

  it('refuses a server whose certificate another CA signed, and says so', async () => {
    await expect(openStoreAt(urlWith(wrongCa))).rejects.toThrow(
      /^cannot connect to PostgreSQL at localhost:5432\/tl_tls_\w+: TLS: the server certificate is not signed by the CA in sslrootcert/,
    );
    const res = await runCli(['status', '--store', urlWith(wrongCa)], {
      TICKLINE_DATA_DIR: join(dir, 'cli'),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^tickline: cannot connect to PostgreSQL at localhost:5432\/tl_tls_\w+: TLS: the server certificate is not signed by the CA in sslrootcert/,
    );
  });
});
