import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('has working defaults with no file and no environment', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cfg-'));
    const cfg = loadConfig({ cwd, env: {} });
    expect(cfg.dataDir).toBe(join(cwd, 'tickline-data'));
    expect(cfg.quality).toEqual({ maxJump: 1, futureSkewMs: 60_000 });
    expect(cfg.store).toMatchObject({ memoryLimit: null, checkpointThreshold: '64MB' });
    expect(cfg.sources.yahoo.baseUrl).toMatch(/^https:\/\//);
  });

  it('reads YAML, then environment overrides win', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(
      join(cwd, 'tickline.config.yaml'),
      'sources:\n  yahoo:\n    baseUrl: http://127.0.0.1:1\nquality:\n  maxJump: 0.3\n',
    );
    const cfg = loadConfig({
      cwd,
      env: { TICKLINE_YAHOO_URL: 'http://127.0.0.1:2', TICKLINE_DATA_DIR: '/tmp/d' },
    });
    expect(cfg.sources.yahoo.baseUrl).toBe('http://127.0.0.1:2');
    expect(cfg.quality.maxJump).toBe(0.3);
    expect(cfg.dataDir).toBe('/tmp/d');
  });

  it('names the path of a bad field and what was expected', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(cwd, 'tickline.config.json'), '{"http": {"attempts": "many"}}');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(
      /tickline\.config\.json: http\.attempts: expected .*number/,
    );
    writeFileSync(join(cwd, 'tickline.config.json'), '{"store": {"checkpointThreshold": "lots"}}');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(
      /store\.checkpointThreshold: expected a size such as 512MB or 2GB/,
    );
    writeFileSync(join(cwd, 'tickline.config.json'), '{"colour": 1}');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(/json: colour: expected no such setting/);
    const empty = mkdtempSync(join(tmpdir(), 'cfg-'));
    expect(() => loadConfig({ cwd: empty, env: { TICKLINE_YAHOO_URL: 'not a url' } })).toThrow(
      /TICKLINE_YAHOO_URL: expected an http\(s\) URL/,
    );
  });
});
