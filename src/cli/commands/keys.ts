/** `tickline keys`: create (printed once), list and revoke API keys. Only hashes are stored. */
import type { Command } from 'commander';
import { newApiKey } from '../../api/auth.ts';
import { UsageError } from '../../core/errors.ts';
import { parseChoice } from '../args.ts';
import { recordAudit } from '../audit.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatTable } from '../output.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys for the server: create, list, revoke');
  keys
    .command('create')
    .description('create a key and print it once (it is stored hashed and cannot be shown again)')
    .option('--scope <scope>', 'read | admin', 'read')
    .option('--name <name>', 'a label, e.g. who uses it')
    .action(async (o: { scope?: string; name?: string }, cmd: Command) => {
      const scope = parseChoice('--scope', o.scope, ['read', 'admin'] as const, 'read');
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const { key, record } = newApiKey(scope, o.name ?? null);
      await withStore(cfg, (store) => store.capability('keys').putApiKey(record));
      process.stdout.write(`${key}\n`);
      process.stderr.write(
        `created ${scope} key ${record.id}${o.name ? ` (${o.name})` : ''}; it is shown only now: send it as "Authorization: Bearer <key>"\n`,
      );
      await recordAudit(
        cfg,
        'keys.create',
        record.id,
        `${scope} key${o.name ? ` "${o.name}"` : ''}`,
      );
    });
  keys
    .command('list')
    .description('list keys (ids, scopes, names; never the keys)')
    .action(async (_o: unknown, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const rows = await withStore(cfg, (store) => store.capability('keys').listApiKeys());
      process.stdout.write(
        formatTable(
          ['id', 'scope', 'name', 'created', 'revoked'],
          rows.map((k) => ({
            id: k.id,
            scope: k.scope,
            name: k.name ?? '',
            created: new Date(k.createdAt).toISOString(),
            revoked: k.revokedAt ? new Date(k.revokedAt).toISOString() : '',
          })),
        ),
      );
    });
  keys
    .command('revoke <id>')
    .description('revoke a key by its id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const done = await withStore(cfg, (store) => store.capability('keys').revokeApiKey(id));
      if (!done) throw new UsageError('id', `no active key ${id} (see tickline keys list)`);
      await recordAudit(cfg, 'keys.revoke', id);
      process.stdout.write(`revoked ${id}\n`);
    });
}
