import { describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import { logContract } from './log-contract.ts';

logContract('memory', async () => new MemoryLog({ partitions: 4 }));

describe('MemoryLog', () => {
  it('gives one busy key the room of every partition: the topic holds capacity × partitions', async () => {
    const log = new MemoryLog({ partitions: 4, capacity: 1_000 });
    const sub = await log.consume<number>('t', 'g', async () => {});
    const publish = (n: number) =>
      log.publish(
        't',
        Array.from({ length: n }, (_, i) => i),
        () => 'one-symbol',
      );
    await publish(4_000); // one key, one partition: still within the topic's room
    let done = false;
    const blocked = publish(1).then(() => {
      done = true;
    });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(await log.lag('t', 'g')).toBe(4_001);
    await sub.commit(0, 10); // the first key takes partition 0
    await blocked;
    expect(done).toBe(true);
    await sub.close();
    await log.close();
  });

  it('makes a publisher wait while the topic is full, and lets it go once the group commits', async () => {
    const log = new MemoryLog({ partitions: 1, capacity: 1_000 });
    const pending: { offset: number; n: number }[] = [];
    const sub = await log.consume<number>('t', 'g', async (b) => {
      pending.push({ offset: b.offset, n: b.records.length });
    });
    await log.publish(
      't',
      Array.from({ length: 1_000 }, (_, i) => i),
      () => 'k',
    );
    let done = false;
    const blocked = log
      .publish(
        't',
        Array.from({ length: 500 }, (_, i) => i),
        () => 'k',
      )
      .then(() => {
        done = true;
      });
    // The records are in the log at once; the publish then waits for room.
    expect(await log.lag('t', 'g')).toBe(1_500);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    const last = pending[pending.length - 1]!;
    await sub.commit(0, last.offset + last.n);
    await blocked;
    expect(done).toBe(true);
    await sub.close();
    await log.close();
  });

  it('delivers a batch again when its handler throws', async () => {
    const log = new MemoryLog({ partitions: 1, retryMs: 10, onError: () => {} });
    let calls = 0;
    const got: number[] = [];
    const sub = await log.consume<number>('t', 'g', async (b) => {
      calls++;
      if (calls === 1) throw new Error('store down');
      got.push(...b.records);
      await sub.commit(b.partition, b.next);
    });
    await log.publish('t', [1, 2, 3], () => 'k');
    while (got.length < 3) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual([1, 2, 3]);
    expect(calls).toBe(2);
    await sub.close();
    await log.close();
  });
});
