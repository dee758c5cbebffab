import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests import the public entry points, exactly as users do.
    alias: [
      { find: /^@feat\/sdk\/redux$/, replacement: src('redux/index.ts') },
      { find: /^@feat\/sdk\/api$/, replacement: src('api/index.ts') },
      { find: /^@feat\/emulator$/, replacement: src('emulator/index.ts') },
      // The emulator's former entry point, until every import says @feat/emulator.
      { find: /^@feat\/sdk\/emulator$/, replacement: src('emulator/index.ts') },
      { find: /^@feat\/sdk$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
