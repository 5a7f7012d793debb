/** Inputs that broke parsers, for the fault tests and the fuzzers. */

/**
 * The two messages of the poison report: 5,000 nested arrays as `data`, and
 * a trade at `ts` whose `c` nests 20,000 objects deep. Both are valid JSON.
 */
export function poisonMessages(ts: number): string[] {
  return [
    `{"data":${'['.repeat(5_000)}${']'.repeat(5_000)},"type":"trade"}`,
    `{"type":"trade","data":[{"s":"AAPL","p":101,"t":${ts},"v":1,"c":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]}`,
  ];
}
