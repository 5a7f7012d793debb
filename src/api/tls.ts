/** HTTPS for the API: the certificate and key files of `api.tls`, checked before anything slow. */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../core/errors.ts';

export /** The PEM files of `api.tls`, read; a missing or unreadable one is named by its setting. */
async function readTls(
  tls: { cert: string; key: string } | null,
): Promise<{ cert: Buffer; key: Buffer } | null> {
  if (!tls) return null;
  const read = async (field: 'cert' | 'key'): Promise<Buffer> => {
    const text = await readFile(tls[field]).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(
        `api.tls.${field}`,
        'a readable PEM file',
        `${tls[field]} (${err.code ?? err.message})`,
      );
    });
    if (!text.includes('-----BEGIN ')) {
      throw new ConfigError(`api.tls.${field}`, 'a PEM file (-----BEGIN …)', tls[field]);
    }
    return text;
  };
  const pair = { cert: await read('cert'), key: await read('key') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError(
      'api.tls',
      'a certificate and the private key that goes with it',
      `${tls.cert}, ${tls.key}: ${(err as Error).message}`,
    );
  }
  return pair;
}
