import { describe, expect, it } from 'vitest';
import { SeriesResultCache } from './result-cache.ts';

/** Cached values are objects (results); each test value is its own. */
const v = (name: string) => ({ name });
const bytes = (n: number) => new Uint8Array(n);

describe('SeriesResultCache', () => {
  it('returns a kept result until its series is invalidated', () => {
    const c = new SeriesResultCache<{ name: string }>(100);
    const [a1, a2, b1] = [v('a1'), v('a2'), v('b1')];
    c.set('A', 'q1', a1, 10);
    c.set('A', 'q2', a2, 10);
    c.set('B', 'q1', b1, 10);
    expect(c.get('A', 'q1')).toBe(a1);
    expect(c.get('B', 'q1')).toBe(b1);
    c.invalidate('A');
    expect(c.get('A', 'q1')).toBeUndefined();
    expect(c.get('A', 'q2')).toBeUndefined();
    expect(c.get('B', 'q1')).toBe(b1);
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 10, hits: 3, misses: 2 });
    c.clear();
    expect(c.get('B', 'q1')).toBeUndefined();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('drops the least recently used results past its byte budget, and never keeps one larger than it', () => {
    const c = new SeriesResultCache<{ name: string }>(30);
    const [r1, r2, r3, r4] = [v('1'), v('2'), v('3'), v('4')];
    c.set('A', '1', r1, 10);
    c.set('A', '2', r2, 10);
    c.set('A', '3', r3, 10);
    expect(c.get('A', '1')).toBe(r1); // now the most recent
    c.set('A', '4', r4, 10); // evicts '2', the least recent
    expect(c.get('A', '2')).toBeUndefined();
    expect([c.get('A', '1'), c.get('A', '3'), c.get('A', '4')]).toEqual([r1, r3, r4]);
    c.set('A', 'big', v('big'), 31);
    expect(c.get('A', 'big')).toBeUndefined();
    expect(c.stats().bytes).toBe(30);
    // Replacing a key counts its bytes once.
    const r44 = v('44');
    c.set('A', '4', r44, 5);
    expect(c.stats().bytes).toBe(25);
    expect(c.get('A', '4')).toBe(r44);
  });

  it('keeps what is derived from a cached result with it, in the same budget, and drops it with it', () => {
    const c = new SeriesResultCache<{ name: string }>(100);
    const [a, b] = [v('a'), v('b')];
    c.set('A', 'q', a, 10);
    c.set('B', 'q', b, 10);
    let made = 0;
    const make = () => {
      made++;
      return bytes(30);
    };
    const first = c.derive(a, 'json', make);
    expect(c.derive(a, 'json', make)).toBe(first);
    expect(made).toBe(1);
    expect(c.stats().bytes).toBe(50);
    // Another name is made and kept on its own.
    c.derive(a, 'csv', make);
    expect(made).toBe(2);
    expect(c.stats().bytes).toBe(80);
    // Past the budget, the least recently used entry goes (b, not a, which was just used).
    c.derive(a, 'more', () => bytes(25));
    expect(c.get('B', 'q')).toBeUndefined();
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 95 });
    // A write to the series drops the result and all that was derived from it.
    c.invalidate('A');
    expect(c.stats().bytes).toBe(0);
    // A result no longer cached is still answered, but nothing is kept for it.
    expect(c.derive(a, 'json', make).byteLength).toBe(30);
    expect(made).toBe(3);
    expect(c.stats().bytes).toBe(0);
    // Nothing larger than the entry's share of the budget is kept.
    const d = v('d');
    c.set('D', 'q', d, 10);
    c.derive(d, 'huge', () => bytes(91));
    expect(c.stats().bytes).toBe(10);
  });

  it('hands what was derived from a stale result to the one patched from it, once, by name', () => {
    const c = new SeriesResultCache<{ name: string }>(1000);
    const [v1, v2, v3] = [v('1'), v('2'), v('3')];
    c.set('A', 'q', v1, 10);
    const json = c.derive(v1, 'json', () => bytes(100));
    c.derive(v1, 'csv', () => bytes(50));
    c.markStale('A', 5);
    // Kept while stale (counted), but not answered for the stale value.
    expect(c.stats().bytes).toBe(160);
    expect(c.derive(v1, 'json', () => bytes(1))).not.toBe(json);
    c.set('A', 'q', v2, 10, true);
    expect(c.stats().bytes).toBe(160);
    const seen: (Uint8Array | undefined)[] = [];
    const made = c.derive(v2, 'json', (prior?: Uint8Array) => {
      seen.push(prior);
      return bytes(120);
    });
    expect(seen).toEqual([json]);
    expect(c.stats().bytes).toBe(10 + 50 + 120); // the json prior went when it was used
    expect(c.derive(v2, 'json', () => bytes(1))).toBe(made);
    // A result set without `patched` (read whole) gets no prior.
    c.markStale('A', 9);
    c.set('A', 'q', v3, 10);
    expect(c.stats().bytes).toBe(10);
    c.derive(v3, 'csv', (prior?: Uint8Array) => {
      seen.push(prior);
      return bytes(5);
    });
    expect(seen).toEqual([json, undefined]);
  });
});
