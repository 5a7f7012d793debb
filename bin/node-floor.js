// The Node.js version tickline needs (package.json "engines"), checked before anything loads.
import { readFileSync } from 'node:fs';

/** The floor `>=x.y.z` in package.json's engines.node. */
export function nodeFloor() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const m = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
  if (!m) throw new Error(`package.json engines.node is not ">=x.y.z": ${pkg.engines.node}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Why `version` (e.g. "20.20.2") is too old, or null when it is new enough. */
export function nodeTooOld(version, floor = nodeFloor()) {
  const v = version.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((v[i] ?? 0) > floor[i]) return null;
    if ((v[i] ?? 0) < floor[i]) {
      return `tickline needs Node.js ${floor.join('.')} or newer; this is ${version}`;
    }
  }
  return null;
}
