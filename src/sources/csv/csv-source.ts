/** Local CSV files of bars, with an optional column mapping. */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../../core/errors.ts';
import { INTERVALS, type Interval } from '../../core/time.ts';
import type { HistoryRequest, RawBatch, Source } from '../source.ts';
import { type CsvMapping, parseBarsCsv } from './csv-format.ts';

export const CSV = 'csv';

/** Reads a file and refuses one that is missing, a directory, or binary. */
export async function readCsvText(file: string): Promise<string> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch {
    throw new ConfigError(file, 'an existing CSV file (no such file)');
  }
  if (!info.isFile()) throw new ConfigError(file, 'a CSV file, not a directory');
  const buf = await readFile(file);
  const nul = buf.subarray(0, 8192).indexOf(0);
  if (nul >= 0) {
    throw new ConfigError(file, `a CSV text file, not binary data (a NUL byte at offset ${nul})`);
  }
  return buf.toString('utf8');
}

export class CsvSource implements Source {
  readonly name = CSV;
  readonly intervals: readonly Interval[] = INTERVALS;
  readonly #file: string;
  readonly #mapping: CsvMapping;

  constructor(opts: { file: string; mapping?: CsvMapping }) {
    this.#file = opts.file;
    this.#mapping = opts.mapping ?? {};
  }

  /** `req.symbol` is the symbol for files without a symbol column; `*` keeps every symbol. */
  async *history(req: HistoryRequest): AsyncIterable<RawBatch> {
    const text = await readCsvText(this.#file);
    const receivedAt = Date.now();
    const path = resolve(this.#file);
    const { bars, rejects } = parseBarsCsv(text, {
      ...(req.symbol !== '*' ? { symbol: req.symbol } : {}),
      interval: req.interval,
      source: CSV,
      file: this.#file,
      mapping: this.#mapping,
      receivedAt,
    });
    yield {
      raw: { source: CSV, request: `file://${path}`, receivedAt, status: 0, body: text },
      bars,
      rejects,
      actions: [],
      instrument: null,
    };
  }
}
