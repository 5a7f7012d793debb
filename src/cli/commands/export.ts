import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { EXPORT_LAYERS } from '../../store/store.ts';
import { parseChoice } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a layer as hive-partitioned files (interval=…/symbol=…/year=…; trades and corporate_actions: symbol=…/year=…; raw: source=…/year=…, the data’s year)',
    )
    .option('--layer <l>', EXPORT_LAYERS.join(' | '), 'curated')
    .option('--format <f>', 'parquet | csv', 'parquet')
    .option('--out <dir>', 'output folder (the layer is written to <dir>/<layer>/, replacing it)')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const layer = parseChoice('--layer', o.layer, EXPORT_LAYERS, 'curated');
      const format = parseChoice('--format', o.format, ['parquet', 'csv'] as const, 'parquet');
      if (!o.out) throw new UsageError('--out', 'is required: the folder to write to');
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const files = await withStore(cfg, (store) =>
        store.capability('export').exportLake({ layer, format, outDir: resolve(o.out!) }),
      );
      const n = files.length;
      process.stdout.write(
        `wrote ${n} ${format} file${n === 1 ? '' : 's'} under ${join(resolve(o.out), layer)}\n`,
      );
    });
}
