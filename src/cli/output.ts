/** Terminal output: tables, CSV, JSON and the progress bar. */
import cliProgress from 'cli-progress';

/**
 * A value as text. A table rounds numbers to 10 significant digits for the
 * eye; CSV (`exact`) writes the shortest text that reads back as the same
 * double (212.69000244140625 stays so), as the API's CSV does.
 */
const cell = (v: unknown, exact = false): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number')
    return exact || Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(10)));
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
};

export function formatTable(columns: string[], rows: Record<string, unknown>[]): string {
  const data = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...data.map((d) => d[i]!.length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...data.map(line)];
  return `${out.join('\n')}\n`;
}

const csvField = (v: unknown): string => {
  const s = cell(v, true);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function formatCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const out = [columns.map(csvField).join(',')];
  for (const r of rows) out.push(columns.map((c) => csvField(r[c])).join(','));
  return `${out.join('\n')}\n`;
}

export function formatJson(rows: Record<string, unknown>[]): string {
  return `${JSON.stringify(rows)}\n`;
}

export interface Progress {
  update(values: Record<string, number>, done: number): void;
  stop(): void;
}

/** A progress bar on a terminal; silent when stderr is not a TTY. */
export function progressBar(
  total: number,
  format: string,
  initial: Record<string, number> = {},
): Progress {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, initial);
  return {
    update(values, done) {
      bar.update(done, values);
    },
    stop() {
      bar.stop();
    },
  };
}
