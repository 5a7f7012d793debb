/**
 * The contract every Log implementation must pass. A new log adds one test
 * file that calls `logContract(name, open)`. Topics are unique per test so a
 * broker can be shared.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/core/errors.ts';
import type { Log, LogBatch, Subscription, UnprocessableRecord } from '../../src/log/log.ts';

interface Rec {
  key: string;
  seq: number;
}

const records = (n: number, keys: number, from = 0): Rec[] =>
  Array.from({ length: n }, (_, i) => ({ key: `K${(from + i) % keys}`, seq: from + i }));

/** Resolves once `pred` holds, polling; fails after `ms`. */
async function until(pred: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for the log');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function logContract(name: string, open: () => Promise<Log>): void {
  describe(`Log contract: ${name}`, () => {
    let log: Log;
    let topic: string;
    beforeEach(async () => {
      log = await open();
      topic = `contract-${randomUUID()}`;
    });
    afterEach(async () => {
      await log.close();
    });

    /** Joins a group that collects every record and commits each batch after "storing" it. */
    const collector = async (group: string, got: Rec[], commit = true): Promise<Subscription> => {
      // A log may deliver before consume() resolves: commit through the promise.
      let joined: (s: Subscription) => void = () => {};
      const ready = new Promise<Subscription>((resolve) => {
        joined = resolve;
      });
      const sub = await log.consume<Rec>(topic, group, async (b: LogBatch<Rec>) => {
        got.push(...b.records);
        if (commit) await (await ready).commit(b.partition, b.next);
      });
      joined(sub);
      return sub;
    };

    it('keeps the order of each key, across publishes', async () => {
      const got: Rec[] = [];
      const sub = await collector('g', got);
      const all = records(5_000, 37);
      for (let i = 0; i < all.length; i += 700) {
        await log.publish(topic, all.slice(i, i + 700), (r) => r.key);
      }
      await until(() => got.length >= all.length);
      expect(got.length).toBe(all.length);
      const byKey = new Map<string, number[]>();
      for (const r of got) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.seq]);
      for (const [key, seqs] of byKey) {
        expect(seqs, key).toEqual(all.filter((r) => r.key === key).map((r) => r.seq));
      }
      await sub.close();
    });

    it('keeps the order of each key when publishes are not awaited one by one, even past a request’s size', async () => {
      const got: Rec[] = [];
      const sub = await collector('g', got);
      // 60 publishes of 4 records of 40 KB each (9.6 MB), all in flight at once: a durable log
      // has to split them into several requests and still keep each key's order.
      const pad = 'x'.repeat(40_000);
      const all = records(240, 3).map((r) => ({ ...r, pad }));
      const sends: Promise<void>[] = [];
      for (let i = 0; i < all.length; i += 4) {
        sends.push(log.publish(topic, all.slice(i, i + 4), (r) => r.key));
      }
      await Promise.all(sends);
      await until(() => got.length >= all.length);
      expect(got.length).toBe(all.length);
      for (const key of ['K0', 'K1', 'K2']) {
        expect(
          got.filter((r) => r.key === key).map((r) => r.seq),
          key,
        ).toEqual(all.filter((r) => r.key === key).map((r) => r.seq));
      }
      await sub.close();
    });

    it('gives every group every record, and splits a group’s records between its members', async () => {
      const a: Rec[] = [];
      const b1: Rec[] = [];
      const b2: Rec[] = [];
      const subs = [await collector('a', a), await collector('b', b1), await collector('b', b2)];
      const all = records(2_000, 50);
      await log.publish(topic, all, (r) => r.key);
      await until(() => a.length >= 2_000 && b1.length + b2.length >= 2_000);
      expect(a.map((r) => r.seq).sort((x, y) => x - y)).toEqual(all.map((r) => r.seq));
      expect([...b1, ...b2].map((r) => r.seq).sort((x, y) => x - y)).toEqual(all.map((r) => r.seq));
      // One key is owned by one member at a time.
      const keys1 = new Set(b1.map((r) => r.key));
      expect(b2.some((r) => keys1.has(r.key))).toBe(false);
      for (const s of subs) await s.close();
    });

    it('delivers what a member received but did not commit to the member that takes over', async () => {
      const lost: Rec[] = [];
      const first = await collector('g', lost, false);
      await log.publish(topic, records(500, 10), (r) => r.key);
      await until(() => lost.length >= 500);
      // Offsets may hold more than records (a transactional log's commit markers).
      expect(await log.lag(topic, 'g')).toBeGreaterThanOrEqual(500);
      await first.close();
      const got: Rec[] = [];
      const second = await collector('g', got);
      await until(() => got.length >= 500);
      expect(got.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
        lost.map((r) => r.seq).sort((x, y) => x - y),
      );
      await until(async () => (await log.lag(topic, 'g')) === 0);
      await second.close();
    });

    it('hands the state committed with an offset to the next owner, which resumes there', async () => {
      // Member A counts records per partition and commits the count with each batch's offset.
      const countsA = new Map<number, number>();
      const nextA = new Map<number, number>();
      let joinedA: (s: Subscription) => void = () => {};
      const readyA = new Promise<Subscription>((r) => {
        joinedA = r;
      });
      const restoredA: (number | null)[] = [];
      const a = await log.consume<Rec>(
        topic,
        'g',
        async (b) => {
          const n = (countsA.get(b.partition) ?? 0) + b.records.length;
          countsA.set(b.partition, n);
          nextA.set(b.partition, b.next);
          await (await readyA).commit(b.partition, b.next, JSON.stringify({ n }));
        },
        { onAssign: (_p, cp) => void restoredA.push(cp ? cp.offset : null) },
      );
      joinedA(a);
      await log.publish(topic, records(600, 13), (r) => r.key);
      await until(() => [...countsA.values()].reduce((x, y) => x + y, 0) >= 600);
      await until(async () => (await log.lag(topic, 'g')) === 0);
      await a.close();
      expect(restoredA.every((x) => x === null)).toBe(true);

      await log.publish(topic, records(150, 13, 600), (r) => r.key);
      const restored = new Map<number, { offset: number; n: number }>();
      const firstOffset = new Map<number, number>();
      const gotB: Rec[] = [];
      const b = await log.consume<Rec>(
        topic,
        'g',
        async (batch) => {
          if (!firstOffset.has(batch.partition)) firstOffset.set(batch.partition, batch.offset);
          gotB.push(...batch.records);
        },
        {
          onAssign: (p, cp) => {
            if (cp)
              restored.set(p, { offset: cp.offset, n: (JSON.parse(cp.state) as { n: number }).n });
          },
        },
      );
      await until(() => gotB.length >= 150);
      // Every partition A worked on comes back with A's last state, at A's last offset.
      for (const [p, n] of countsA) {
        const next = nextA.get(p)!;
        expect(restored.get(p), `partition ${p}`).toEqual({ offset: next, n });
        // B starts at A's commit (past any transaction marker there).
        if (firstOffset.has(p)) expect(firstOffset.get(p)).toBeGreaterThanOrEqual(next);
        if (firstOffset.has(p)) expect(firstOffset.get(p)).toBeLessThanOrEqual(next + 1);
      }
      expect(gotB.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
        records(150, 13, 600).map((r) => r.seq),
      );
      await b.close();
    });

    it('resumes a group after its last commit, not from the start', async () => {
      const first: Rec[] = [];
      const s1 = await collector('g', first);
      await log.publish(topic, records(300, 7), (r) => r.key);
      await until(() => first.length >= 300);
      await s1.close();
      await log.publish(topic, records(200, 7, 300), (r) => r.key);
      const second: Rec[] = [];
      const s2 = await collector('g', second);
      await until(() => second.length >= 200);
      // Everything is committed: nothing more can come, so what arrived is all there is.
      await until(async () => (await log.lag(topic, 'g')) === 0);
      expect(second.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
        records(200, 7, 300).map((r) => r.seq),
      );
      await s2.close();
    });

    it('sets aside a record its handler fails on every time, keeps the records around it, and retries a transient failure until it passes', async () => {
      // Poison: seq 7 throws a RangeError every time (what a 5,000-deep message did to
      // JSON.stringify). Transient: the first two deliveries of seq 12 fail as a store
      // that is away would. One key, so all land on one partition, in order.
      const got: number[] = [];
      const setAside: UnprocessableRecord[] = [];
      let storeAway = 2;
      let joined: (s: Subscription) => void = () => {};
      const ready = new Promise<Subscription>((resolve) => {
        joined = resolve;
      });
      const sub = await log.consume<Rec>(
        topic,
        'g',
        async (b: LogBatch<Rec>) => {
          if (b.records.some((r) => r.seq === 7))
            throw new RangeError('Maximum call stack size exceeded');
          if (b.records.some((r) => r.seq === 12) && storeAway > 0) {
            storeAway--;
            throw new TransientError('store away');
          }
          got.push(...b.records.map((r) => r.seq));
          await (await ready).commit(b.partition, b.next);
        },
        { onUnprocessable: async (u) => void setAside.push(u) },
      );
      joined(sub);
      await log.publish(topic, records(10, 1), (r) => r.key);
      await until(() => got.length >= 9 && setAside.length >= 1);
      await log.publish(topic, records(10, 1, 10), (r) => r.key);
      await until(() => got.length >= 19);
      expect(got).toEqual([
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        8,
        9,
        ...Array.from({ length: 10 }, (_, i) => 10 + i),
      ]);
      expect(setAside).toHaveLength(1);
      expect(setAside[0]!.record).toEqual({ key: 'K0', seq: 7 });
      expect(setAside[0]!.error).toMatch(/Maximum call stack/);
      expect(storeAway).toBe(0);
      await until(async () => (await log.lag(topic, 'g')) === 0);
      await sub.close();
    });
  });
}
