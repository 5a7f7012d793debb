/** Certificates made by the tests with openssl: a CA, and servers' keys and certificates it signs. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A CA (key and self-signed certificate) in `dir`; returns the certificate's path. */
export function makeCa(dir: string, name: string): string {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    key,
    '-out',
    crt,
  );
  return crt;
}

/**
 * A server key and certificate signed by the CA `ca` (made by makeCa in the
 * same `dir`), naming localhost and 127.0.0.1.
 */
export function issueServerCert(
  dir: string,
  ca: string,
  name = 'server',
): { key: string; crt: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const crt = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.san.ext`);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    key,
    '-out',
    csr,
  );
  ssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    ca.replace(/\.crt$/, '.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    crt,
  );
  return { key, crt };
}
