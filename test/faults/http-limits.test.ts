/** A provider answer over the size limit is refused at once (not retried), naming its size. */
import { afterEach, describe, expect, it } from 'vitest';
import { SourceError } from '../../src/core/errors.ts';
import { httpGet } from '../../src/sources/http.ts';
import { type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('provider answers over the size limit', () => {
  it('refuses a body past maxBytes without retrying, and takes one within it', async () => {
    let calls = 0;
    server = await startReplayServer((url) => {
      calls++;
      return [{ body: url.pathname === '/big' ? 'x'.repeat(200_000) : 'ok' }];
    });
    const retry = { attempts: 5, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 5_000 };
    const err = await httpGet(`${server.url}/big`, {
      provider: 'test',
      retry,
      maxBytes: 100_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/is over 100000 bytes \(\d+ read so far\); refused/);
    expect(calls).toBe(1);
    const ok = await httpGet(`${server.url}/small`, { provider: 'test', retry, maxBytes: 100_000 });
    expect(ok.body).toBe('ok');
  });
});
