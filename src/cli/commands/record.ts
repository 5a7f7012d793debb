/**
 * `tickline record`: writes the messages a live source sends, as they
 * arrive, to an NDJSON file (one `{"receivedAt","source","message"}` per
 * line) that `tickline stream --source replay --file …` plays back.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import type { RecordedMessage } from '../../sources/replay/replay-source.ts';
import { parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions } from '../context.ts';
import { liveSourceFromFlags, liveSourceOptions, stopOnSignals } from '../live.ts';

export function registerRecord(program: Command): void {
  liveSourceOptions(
    program
      .command('record')
      .description('record what a live source sends to an NDJSON file, for replay'),
    'finnhub',
  )
    .option('--out <file>', 'the recording to write (NDJSON)')
    .option('--duration <s>', 'stop after this many seconds')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const symbols = parseSymbols(o.symbols);
      if (!o.out)
        throw new UsageError('--out', 'is required: the file to write, e.g. session.ndjson');
      const { source } = liveSourceFromFlags(o, cfg);
      const stop = new AbortController();
      const release = stopOnSignals(stop, 'closing the recording');
      if (o.duration !== undefined) {
        const s = Number(o.duration);
        if (!(s > 0))
          throw new UsageError('--duration', `"${o.duration}" is not a positive number`);
        setTimeout(() => stop.abort(), s * 1000).unref();
      }
      const out = createWriteStream(o.out, { flags: 'w' });
      await once(out, 'open');
      let messages = 0;
      try {
        for await (const batch of source.live(symbols, { signal: stop.signal })) {
          for (const m of batch.messages) {
            const line: RecordedMessage = {
              receivedAt: m.receivedAt,
              source: source.name,
              message: m.text,
            };
            if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain');
            messages++;
          }
          for (const e of batch.events) {
            if (e.kind === 'error') process.stderr.write(`tickline: source error: ${e.message}\n`);
          }
        }
      } finally {
        release();
        out.end();
        await once(out, 'finish');
      }
      process.stdout.write(`recorded ${messages} messages to ${o.out}\n`);
    });
}
