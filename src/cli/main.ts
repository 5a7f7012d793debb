/** The `tickline` command. One file per command under commands/. */
import { Command, CommanderError } from 'commander';
import { ConfigError, errorMessage, SqlError, StoreError, UsageError } from '../core/errors.ts';
import { CapabilityError } from '../store/store.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerCalendar } from './commands/calendar.ts';
import { registerDemo } from './commands/demo.ts';
import { registerExport } from './commands/export.ts';
import { registerGaps } from './commands/gaps.ts';
import { registerImport } from './commands/import.ts';
import { registerKeys } from './commands/keys.ts';
import { registerPipelines } from './commands/pipelines.ts';
import { registerQuarantine } from './commands/quarantine.ts';
import { registerQuery } from './commands/query.ts';
import { registerRecord } from './commands/record.ts';
import { registerStatus } from './commands/status.ts';
import { registerStream } from './commands/stream.ts';
import { registerUp } from './commands/up.ts';
import { registerWorker } from './commands/worker.ts';

export function buildProgram(): Command {
  const program = new Command('tickline')
    .description('self-hosted market data: ingest, validate, enrich and query OHLCV bars')
    .version('0.1.0')
    .option('--config <file>', 'config file (default: tickline.config.{yaml,yml,json} here)')
    .option('--data-dir <dir>', 'data folder (default ./tickline-data, or TICKLINE_DATA_DIR)')
    .option(
      '--store <url>',
      'the store: postgres://host/db, cassandra://host:port/keyspace or duckdb:///file (default: the embedded DuckDB file in the data folder, or TICKLINE_STORE_URL)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of [
    registerUp,
    registerDemo,
    registerBackfill,
    registerImport,
    registerQuery,
    registerQuarantine,
    registerStatus,
    registerExport,
    registerStream,
    registerRecord,
    registerKeys,
    registerWorker,
    registerCalendar,
    registerPipelines,
    registerGaps,
  ]) {
    register(program);
  }
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 2 bad input or partial failure, 1 crash). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof CapabilityError ||
      err instanceof SqlError
    ) {
      process.stderr.write(`tickline: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StoreError) {
      process.stderr.write(`tickline: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`tickline: ${errorMessage(err)}\n`);
    if (process.env.TICKLINE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
