import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

// No polyfill configuration: the SDK builds for browsers as it is. The only setting here points the package name at
// this repository's sources (an app that installed @feat/sdk from the registry needs no `resolve` section at all).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^@feat\/sdk\/redux$/, replacement: repo('src/redux/index.ts') },
      { find: /^@feat\/sdk\/react$/, replacement: repo('src/react/index.ts') },
      { find: /^@feat\/sdk$/, replacement: repo('src/index.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    port: 5173,
  },
});
