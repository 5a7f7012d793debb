/** Prints what an ingest did: totals, rejects per rule, failures per symbol. */
import type { IngestSummary } from '../pipelines/ingest.ts';
import { formatTable } from './output.ts';

export function ingestReport(s: IngestSummary): string {
  const lines: string[] = [];
  const ok = s.results.length - s.failed.length;
  lines.push(
    `symbols: ${ok}/${s.results.length} ok · bars valid: ${s.rows} · stored or changed: ${s.changed} · rejects: ${s.rejects} · exact duplicates skipped: ${s.duplicates}`,
  );
  const rules = Object.entries(s.rejectsByRule).sort((a, b) => b[1] - a[1]);
  if (rules.length > 0) {
    lines.push('rejects by rule:');
    for (const [rule, n] of rules) lines.push(`  ${rule.padEnd(24)} ${n}`);
  }
  if (s.failed.length > 0) {
    lines.push(`failed symbols (${s.failed.length}):`);
    lines.push(
      formatTable(
        ['symbol', 'source', 'error'],
        s.failed.map((f) => ({ symbol: f.symbol, source: f.source, error: f.error })),
      ).trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}
