#!/usr/bin/env node
// The package registry reachable here serves only some platforms' builds of
// packages that ship native binaries per platform (DuckDB bindings, Biome).
// `npm install` then leaves those platforms out of package-lock.json and
// `npm ci` refuses the lock. This adds the missing optional platform entries
// (version, os, cpu, libc; no download address), which npm skips on every
// machine they do not match. Run it after changing dependencies.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pkgs[key] || pkgs[`${path}/${key}`]) continue;
    const id = name.split('/').pop();
    const os = ['darwin', 'linux', 'win32', 'android', 'freebsd'].find((o) => id.includes(o));
    const cpu = ['arm64', 'x64', 'ia32', 'arm'].find((c) => id.includes(c));
    if (!os || !cpu) continue;
    const entry = { version, optional: true, os: [os], cpu: [cpu] };
    if (id.includes('musl')) entry.libc = ['musl'];
    if (meta.dev) entry.dev = true;
    pkgs[key] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} optional platform entries`);
