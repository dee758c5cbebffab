import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'api/index': 'src/api/index.ts',
    'redux/index': 'src/redux/index.ts',
    'react/index': 'src/react/index.ts',
    'emulator/index': 'src/emulator/index.ts',
    'emulator/cli': 'src/emulator/cli.ts',
  },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  splitting: true,
  treeshake: true,
  sourcemap: true,
  // Every dependency stays external: users' bundlers pick only the PouchDB modules we import.
  skipNodeModulesBundle: true,
});
