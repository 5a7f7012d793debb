#!/usr/bin/env node
// Runs the CLI from a build of the TypeScript (bin/build.js, made again when a source file
// changed), or from source through tsx where no build can be made (TICKLINE_FROM_SOURCE=1 asks
// for that).
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { nodeTooOld } from './node-floor.js';

const old = nodeTooOld(process.versions.node);
if (old) {
  process.stderr.write(`tickline: ${old}\n`);
  process.exit(2);
}
// Output piped into a command that stops reading (`| head`) ends quietly, as Unix tools do.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const pkg = new URL('../', import.meta.url);
let root = null;
if (process.env.TICKLINE_FROM_SOURCE !== '1') {
  const { ensureBuilt, holdBuild } = await import('./build.js');
  const src = fileURLToPath(new URL('src/', pkg));
  // One cache per checkout: checkouts that share node_modules (worktrees) keep their own builds.
  const key = createHash('sha256').update(src).digest('hex').slice(0, 12);
  root = await ensureBuilt({
    src,
    cache: fileURLToPath(new URL(`node_modules/.cache/tickline/${key}/`, pkg)),
  });
  if (root) holdBuild(root);
}
let main;
if (root) {
  // Modules loaded by name (worker threads, the dashboard's files) are found through this.
  globalThis[Symbol.for('tickline.built')] = { root, pkg: pkg.href };
  ({ main } = await import(new URL('cli/main.js', root).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
const code = await main(process.argv.slice(2));
process.exitCode = code;
// The command is done: a client still holding a socket to a server that went away (a Kafka
// broker, say) must not keep the process alive. Normally the process exits before this fires.
setTimeout(() => process.exit(code), 1_000).unref();
