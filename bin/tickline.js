#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx compiles it on the fly); no build step.
import { register } from 'tsx/esm/api';
import { nodeTooOld } from './node-floor.js';

const old = nodeTooOld(process.versions.node);
if (old) {
  process.stderr.write(`tickline: ${old}\n`);
  process.exit(2);
}
register();
// Output piped into a command that stops reading (`| head`) ends quietly, as Unix tools do.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// The command is done: a client still holding a socket to a server that went away (a Kafka
// broker, say) must not keep the process alive. Normally the process exits before this fires.
setTimeout(() => process.exit(code), 1_000).unref();
