import { describe, expect, it } from 'vitest';
import { tradeContentId } from './records.ts';

describe('tradeContentId', () => {
  // Stored keys: these values must never change (they were made by the first version).
  it('gives the ids it always gave', () => {
    expect(tradeContentId(1700000000123, 189.53, 100, '1,12')).toBe('9929f6f2fc97f839');
    expect(tradeContentId(1, 0.0001, 0, '')).toBe('6964c8ab93426869');
    expect(tradeContentId(1733011200000, 4321.5, 3.25, "it's")).toBe('1bb19dcbf4129555');
  });

  it('tells trades apart by each of their fields', () => {
    const ids = new Set([
      tradeContentId(1, 2, 3, ''),
      tradeContentId(2, 2, 3, ''),
      tradeContentId(1, 3, 3, ''),
      tradeContentId(1, 2, 4, ''),
      tradeContentId(1, 2, 3, '1'),
    ]);
    expect(ids.size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});
