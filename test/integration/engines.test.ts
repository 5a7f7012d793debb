/**
 * The Node.js floor is stated once (package.json engines, >=20.19.4: the
 * Kafka client's own floor) and checked: the CLI refuses an older Node in
 * one line, and every installed package's engines range admits the floor,
 * except the two listed below, whose stated range is wider than what they
 * use (the Kafka suites run them on Node 20 here).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JS module beside bin/tickline.js
import { nodeFloor, nodeTooOld } from '../../bin/node-floor.js';
import { ROOT } from '../helpers/cli.ts';

/** Packages that state Node >= 22.19 but run on the floor (npm ci warns EBADENGINE for them). */
const STATED_HIGHER = new Set(['@platformatic/dynamic-buffer', '@platformatic/wasm-utils']);

function installed(dir: string): { name: string; engines?: { node?: string } }[] {
  const out: { name: string; engines?: { node?: string } }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.name.startsWith('@')) {
      out.push(...installed(path));
      continue;
    }
    try {
      out.push(JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')));
    } catch {
      // not a package
    }
    try {
      out.push(...installed(join(path, 'node_modules')));
    } catch {
      // no nested packages
    }
  }
  return out;
}

describe('the Node.js floor', () => {
  it('is package.json engines, and the CLI refuses an older Node in one line', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.engines.node).toBe('>=20.19.4');
    expect(nodeFloor()).toEqual([20, 19, 4]);
    expect(nodeTooOld('20.19.4')).toBeNull();
    expect(nodeTooOld('22.0.0')).toBeNull();
    expect(nodeTooOld('v20.11.1')).toBe(
      'tickline needs Node.js 20.19.4 or newer; this is v20.11.1',
    );
    expect(nodeTooOld(process.versions.node)).toBeNull();
  });

  it('is admitted by every installed package but the two listed', () => {
    const floor = nodeFloor().join('.');
    const refused = installed(join(ROOT, 'node_modules'))
      .filter((p) => p.engines?.node && !semver.satisfies(floor, p.engines.node))
      .map((p) => p.name);
    expect([...new Set(refused)].sort()).toEqual([...STATED_HIGHER].sort());
  });
});
