import { describe, expect, it } from 'vitest';
import { SeriesResultCache } from './result-cache.ts';

describe('SeriesResultCache', () => {
  it('returns a kept result until its series is invalidated', () => {
    const c = new SeriesResultCache<string>(100);
    c.set('A', 'q1', 'a1', 10);
    c.set('A', 'q2', 'a2', 10);
    c.set('B', 'q1', 'b1', 10);
    expect(c.get('A', 'q1')).toBe('a1');
    expect(c.get('B', 'q1')).toBe('b1');
    c.invalidate('A');
    expect(c.get('A', 'q1')).toBeUndefined();
    expect(c.get('A', 'q2')).toBeUndefined();
    expect(c.get('B', 'q1')).toBe('b1');
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 10, hits: 3, misses: 2 });
    c.clear();
    expect(c.get('B', 'q1')).toBeUndefined();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('drops the least recently used results past its byte budget, and never keeps one larger than it', () => {
    const c = new SeriesResultCache<number>(30);
    c.set('A', '1', 1, 10);
    c.set('A', '2', 2, 10);
    c.set('A', '3', 3, 10);
    expect(c.get('A', '1')).toBe(1); // now the most recent
    c.set('A', '4', 4, 10); // evicts '2', the least recent
    expect(c.get('A', '2')).toBeUndefined();
    expect([c.get('A', '1'), c.get('A', '3'), c.get('A', '4')]).toEqual([1, 3, 4]);
    c.set('A', 'big', 5, 31);
    expect(c.get('A', 'big')).toBeUndefined();
    expect(c.stats().bytes).toBe(30);
    // Replacing a key counts its bytes once.
    c.set('A', '4', 44, 5);
    expect(c.stats().bytes).toBe(25);
    expect(c.get('A', '4')).toBe(44);
  });
});
