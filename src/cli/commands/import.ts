import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ConfigError, UsageError } from '../../core/errors.ts';
import { ingest } from '../../pipelines/ingest.ts';
import { type CsvMapping, CsvMappingSchema, checkCsvHeader } from '../../sources/csv/csv-format.ts';
import { CsvSource, readCsvText } from '../../sources/csv/csv-source.ts';
import { parseInterval, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { ingestReport } from '../report.ts';

/**
 * `--mapping` is either a JSON/YAML file or inline `key=value` pairs:
 * `date=Day,close=Last,delimiter=;,dateFormat=DD.MM.YYYY,timezone=Europe/Berlin`.
 */
export function parseMapping(value: string | undefined): CsvMapping {
  if (!value) return {};
  let raw: unknown;
  if (/\.(json|ya?ml)$/i.test(value)) {
    let text: string;
    try {
      text = readFileSync(value, 'utf8');
    } catch {
      throw new UsageError('--mapping', `no such file ${value}`);
    }
    try {
      raw = value.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new UsageError('--mapping', `${value} is not valid: ${(err as Error).message}`);
    }
  } else {
    const entries = value.split(/,(?=[A-Za-z]+=)/).map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new UsageError('--mapping', `"${pair}" is not key=value`);
      return [pair.slice(0, at).trim(), pair.slice(at + 1)] as const;
    });
    raw = Object.fromEntries(entries);
  }
  const parsed = CsvMappingSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError('--mapping', `${issue.path.join('.') || 'mapping'}: ${issue.message}`);
  }
  return parsed.data;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('import bars from a CSV file (Yahoo and Stooq headers are recognised)')
    .argument('<file>', 'CSV file of bars')
    .option('--symbol <s>', 'symbol of every row (unless the file has a symbol column)')
    .option('--interval <i>', 'bar interval', '1d')
    .option(
      '--mapping <m>',
      'column mapping: a JSON/YAML file or key=value,… (date, open, high, low, close, adjClose, volume, symbol, delimiter, decimal, dateFormat, timezone), e.g. delimiter=;,decimal=,,dateFormat=DD.MM.YYYY',
    )
    .action(async (file: string, o: Record<string, string | undefined>, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const interval = parseInterval(o.interval);
      const symbol = o.symbol ? parseSymbols(o.symbol, '--symbol')[0]! : '*';
      const mapping = parseMapping(o.mapping);
      try {
        checkCsvHeader(await readCsvText(file), mapping, file, symbol !== '*');
      } catch (err) {
        // "<file>: expected a CSV text file, not binary data (…)", "--symbol: expected a symbol …".
        if (err instanceof ConfigError) throw new UsageError(err.path, `expected ${err.expected}`);
        throw err;
      }
      const cfg = commandConfig(global);
      const source = new CsvSource({ file, mapping });
      const summary = await withStore(cfg, (store) =>
        ingest([{ source, request: { symbol, interval, from: -8.64e15, to: 8.64e15 } }], {
          store,
          quality: cfg.quality,
        }),
      );
      process.stdout.write(ingestReport(summary));
      if (summary.failed.length > 0) process.exitCode = 2;
    });
}
