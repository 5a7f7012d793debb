import { describe, expect, it } from 'vitest';
import { murmur2, murmur2Bytes, partitionOf } from './log.ts';

describe('partitionOf', () => {
  it('is Kafka’s default partitioner: murmur2 as Kafka’s own tests pin it (UtilsTest.testMurmur2)', () => {
    const kafka: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, signed] of kafka) expect(murmur2(key), key).toBe(signed & 0x7fffffff);
  });

  it('hashes non-ASCII keys by their UTF-8 bytes', () => {
    expect(murmur2('é€')).toBe(murmur2Bytes([0xc3, 0xa9, 0xe2, 0x82, 0xac]));
    expect(murmur2('abc')).toBe(murmur2Bytes([0x61, 0x62, 0x63]));
  });

  it('spreads the README’s three symbols over three partitions of six', () => {
    expect(new Set(['AAPL', 'MSFT', 'TSLA'].map((s) => partitionOf(s, 6))).size).toBe(3);
  });
});
