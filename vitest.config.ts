import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { EMULATOR_ONLY_FILES } from './test/support/emulator-only.js';

const here = (path: string) => fileURLToPath(new URL(`./${path}`, import.meta.url));
const src = (path: string) => here(`src/${path}`);
/** `FEAT_BACKEND=real`: every test that starts "the emulator" gets Apache CouchDB 3.4 behind nginx instead (issue #22). */
const real = process.env.FEAT_BACKEND === 'real';
const emulator = real ? here('test/support/real-emulator.ts') : src('emulator/index.ts');
/** Node test files at a time on the emulator (`FEAT_WORKERS` to change it). */
const NODE_WORKERS = Number(process.env.FEAT_WORKERS ?? 6);
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
      // The contract's name for it (API.md): a re-export of the optional peer @feat/emulator.
      { find: /^@feat\/sdk\/emulator$/, replacement: emulator },
      { find: /^@feat\/sdk$/, replacement: src('index.ts') },
    ],
  },
  test: {
    // On the emulator each project below says which files it runs (a project's lists add to these).
    ...(real ? { include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', ...Object.keys(EMULATOR_ONLY_FILES)] } : {}),
    testTimeout: real ? 60_000 : 30_000,
    hookTimeout: real ? 60_000 : 30_000,
    pool: 'forks',
    // One CouchDB and one proxy secret for every stack: files take turns on the real server.
    fileParallelism: !real,
    typecheck: { enabled: !real, include: ['test/**/*.test-d.ts'] },
    // On the emulator, in two groups, one after the other. Most of a Node file's time is waiting (latency profiles,
    // bounds, backoff): six at a time even on two cores. The Chromium files (`*.e2e.test.ts`) load the machine
    // themselves, and their timing assertions failed now and then beside more than one other file: two at a time, after
    // the Node files. (One group of two workers took 16 minutes in CI; these groups with four Node workers 11.3, with six 9.8.)
    ...(real
      ? {}
      : {
          projects: [
            {
              extends: true,
              test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', 'test/**/*.e2e.test.ts'], maxWorkers: NODE_WORKERS, sequence: { groupOrder: 0 } },
            },
            {
              extends: true,
              test: { name: 'browser', include: ['test/**/*.e2e.test.ts'], typecheck: { enabled: false }, maxWorkers: 2, sequence: { groupOrder: 1 } },
            },
          ],
        }),
  },
});
