import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyHeapGrowth } from './heap.ts';

/**
 * Peak heap size of a child process that keeps ~10 MB of objects alive while
 * replacing them, as the live path's buffers do (each lives long enough to
 * be promoted, then dies), after `applyHeapGrowth(percent)`.
 */
function peakHeapMB(percent: number): number {
  const script = `
    import { applyHeapGrowth } from ${JSON.stringify(join(import.meta.dirname, 'heap.ts'))};
    applyHeapGrowth(${percent});
    const ring = new Array(100_000);
    let peak = 0;
    for (let i = 0; i < 6_000_000; i++) {
      ring[i % ring.length] = { i, pair: [i, i + 1], text: 'trade ' + i };
      if ((i & 0x3fff) === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    console.log(peak / 2 ** 20);`;
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
  );
  return Number(out.trim());
}

describe('applyHeapGrowth', () => {
  it('keeps the heap of a process that promotes short-lived objects near what is live', () => {
    const v8Own = peakHeapMB(0);
    const bounded = peakHeapMB(30);
    expect(bounded).toBeGreaterThan(5);
    expect(bounded).toBeLessThan(v8Own * 0.7);
  });

  it('names a bad value', () => {
    expect(() => applyHeapGrowth(-1)).toThrow(/whole percentage ≥ 0, got -1/);
    expect(() => applyHeapGrowth(2.5)).toThrow(/got 2.5/);
  });
});
