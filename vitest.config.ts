import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { EMULATOR_ONLY_FILES } from './test/support/emulator-only.js';

const here = (path: string) => fileURLToPath(new URL(`./${path}`, import.meta.url));
const src = (path: string) => here(`src/${path}`);
/** `FEAT_BACKEND=real`: every test that starts "the emulator" gets Apache CouchDB 3.4 behind nginx instead (issue #22). */
const real = process.env.FEAT_BACKEND === 'real';
const emulator = real ? here('test/support/real-emulator.ts') : src('emulator/index.ts');
if (real) {
  console.warn('FEAT_BACKEND=real: Apache CouchDB behind nginx. Left out (they test the emulator itself):');
  for (const [file, reason] of Object.entries(EMULATOR_ONLY_FILES)) console.warn(`  ${file} [emulator only: ${reason}]`);
}

export default defineConfig({
  // The real backend's stack script lives outside the project (../shared/tools/couchdb by default).
  ...(real ? { server: { fs: { strict: false } } } : {}),
  resolve: {
    // Tests import the public entry points, exactly as users do.
    alias: [
      { find: /^@feat\/sdk\/redux$/, replacement: src('redux/index.ts') },
      { find: /^@feat\/sdk\/react$/, replacement: src('react/index.ts') },
      { find: /^@feat\/sdk\/api$/, replacement: src('api/index.ts') },
      // The emulator (its own package); FEAT_BACKEND=real: the real CouchDB stack behind the same interface.
      { find: /^@feat\/emulator$/, replacement: emulator },
      { find: /^@feat\/sdk$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(real ? Object.keys(EMULATOR_ONLY_FILES) : [])],
    testTimeout: real ? 60_000 : 30_000,
    hookTimeout: real ? 60_000 : 30_000,
    pool: 'forks',
    // One CouchDB and one proxy secret for every stack: files take turns on the real server.
    fileParallelism: !real,
    // Most of a file's time is waiting (latency profiles, bounds, backoff): two files at a time even on two cores
    // (Vitest's default there is one). Three took the suite from about 20 to about 9 minutes, but loaded the timing
    // assertions of the Chromium and backoff tests enough to fail one now and then.
    ...(real ? {} : { maxWorkers: 2 }),
    typecheck: { enabled: !real, include: ['test/**/*.test-d.ts'] },
  },
});
