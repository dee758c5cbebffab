import { defineConfig } from 'tsup';

// The emulator's sources stay in the repository's src/emulator (next to the SDK it emulates the backend of); this
// package builds them, with the SDK code `feat-emulator export` uses bundled in, so the package stands on its own.
export default defineConfig({
  entry: {
    index: '../../src/emulator/index.ts',
    cli: '../../src/emulator/cli.ts',
  },
  format: ['esm'],
  dts: { entry: { index: '../../src/emulator/index.ts' } },
  tsconfig: 'tsconfig.json',
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: true,
  treeshake: true,
  sourcemap: true,
  skipNodeModulesBundle: true,
});
