/**
 * What an app that imports only `@feat/sdk/api`, `/redux` or `/react` gets: none of the three reaches PouchDB or a
 * module that loads anything on demand. The build (tsup.config.ts) turns every `import('./x.js')` of the SDK's own
 * modules into a load of the whole lazy group (local-first sync, PouchDB, queries, export), and app bundlers keep such
 * a load whether it runs or not: `lazy(() => import('./token.js'))` in a module `/api` shared put ≈ 89 kB gz of PouchDB
 * into every api-only app's Vite build (and 17 pouchdb-* modules into esbuild's, a 263 KiB chunk into webpack's).
 * The sources are checked here (no dist/ needed); `npm run size` checks the built package in Vite and esbuild.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

/** Every import the entry's module graph makes, packages left external (they are the app's to resolve). */
async function importsOf(entry: string) {
  const result = await build({
    entryPoints: [src(entry)],
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    outdir: '/tmp/feat-entry-graph',
    logLevel: 'error',
  });
  return Object.entries(result.metafile.inputs).flatMap(([from, input]) => input.imports.map((i) => ({ from, to: i.path, kind: i.kind })));
}

describe('the subpaths alone reach no PouchDB and nothing loaded on demand', () => {
  for (const [subpath, entry] of [
    ['@feat/sdk/api', 'api/index.ts'],
    ['@feat/sdk/redux', 'redux/index.ts'],
    ['@feat/sdk/react', 'react/index.ts'],
  ] as const) {
    it(subpath, async () => {
      const imports = await importsOf(entry);
      expect(imports.length).toBeGreaterThan(0);
      expect(imports.filter((i) => i.kind === 'dynamic-import').map((i) => `${i.from} → import('${i.to}')`)).toEqual([]);
      expect(imports.filter((i) => /^pouchdb/.test(i.to)).map((i) => `${i.from} → ${i.to}`)).toEqual([]);
    });
  }
});
