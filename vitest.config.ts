import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Hang guards, not speed checks (tests wait on conditions): generous enough for a loaded
    // 2-core machine (scripts/stress-suite.sh), where the longest tests take 2-3× their time.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
