import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { defineConfig } from 'tsup';

const src = fileURLToPath(new URL('./src/', import.meta.url));
/** `import('./x.js')` with a relative specifier: the SDK's own lazily loaded modules. */
const LAZY_IMPORT = /import\((['"])(\.{1,2}\/[^'"]+)\.js\1\)/g;
/**
 * Packages the sources load on demand that join the lazy group too (queries: pouchdb-find on the replica, the
 * in-memory matcher). They share pouchdb-utils and its kin with the group's pouchdb-core: loaded apart, an app's
 * bundler (Vite 8) emits those shared modules as more chunks (7 files, 99.4 kB, against 4 files, 97.1 kB, measured).
 * `pouchdb-adapter-idb` stays apart: only replicas that `idb` made need it.
 */
const LAZY_PACKAGES = ['pouchdb-find', 'pouchdb-selector-core', 'pouchdb-collate'];
const LAZY_PACKAGE_IMPORT = new RegExp(`import\\((['"])(${LAZY_PACKAGES.join('|')})\\1\\)`, 'g');
/** Lazy modules that stay their own chunk: the entry points (`client.api` loads `@feat/sdk/api`). */
const OWN_CHUNK = new Set(['api/index.ts']);
/** The virtual module of the lazy group (a relative specifier, so that nothing takes it for a package). */
const VIRTUAL = 'feat-lazy-group';

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'emulator' ? [] : sources(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
const lazyTarget = (importer: string, specifier: string) => resolve(dirname(importer), `${specifier}.ts`);
const packageExport = (name: string) => `pkg_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
const exportName = (file: string) => relative(src, file).replace(/\.ts$/, '').replace(/[^A-Za-z0-9]/g, '_');

/**
 * Fewer, larger lazy chunks. The sources load many small modules on demand (`await import('./parts.js')`); left
 * alone, an app's bundler emits each as its own file (30+ requests). This plugin points every such import at one
 * virtual module that re-exports them all, so everything the SDK loads after start-up (local-first
 * sync with PouchDB replication and the idb adapter, export/import, multi-part values, …) is one lazy chunk, loaded
 * once. The sources keep their plain dynamic imports (tests and tsx run them as they are).
 */
function lazyGroups(): Plugin {
  const members = new Set<string>();
  for (const file of sources(src)) {
    for (const m of readFileSync(file, 'utf8').matchAll(LAZY_IMPORT)) {
      const target = lazyTarget(file, m[2]!);
      if (!OWN_CHUNK.has(relative(src, target))) members.add(target);
    }
  }
  return {
    name: 'feat-lazy-groups',
    setup(build) {
      build.onLoad({ filter: /\/src\/.*\.ts$/ }, (args) => {
        if (args.path.includes('/src/emulator/')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        const contents = text
          .replace(LAZY_IMPORT, (all, _quote: string, specifier: string) => {
            const target = lazyTarget(args.path, specifier);
            return members.has(target) ? `import('./${VIRTUAL}.js').then((g) => g.${exportName(target)})` : all;
          })
          .replace(LAZY_PACKAGE_IMPORT, (_all, _quote: string, name: string) => `import('./${VIRTUAL}.js').then((g) => g.${packageExport(name)})`);
        return { contents, loader: 'ts' };
      });
      build.onResolve({ filter: new RegExp(`^\\./${VIRTUAL}\\.js$`) }, () => ({ path: 'lazy', namespace: 'feat-lazy' }));
      build.onLoad({ filter: /.*/, namespace: 'feat-lazy' }, () => ({
        contents: [
          ...[...members].map((file) => `export * as ${exportName(file)} from ${JSON.stringify(file)};`),
          ...LAZY_PACKAGES.map((name) => `export * as ${packageExport(name)} from ${JSON.stringify(name)};`),
        ].join('\n'),
        loader: 'ts',
        resolveDir: src,
      }));
    },
  };
}

/** Leaves `name` to the app's install (tsup would bundle it: tsconfig's paths map it to a source file). */
function peer(name: string): Plugin {
  return {
    name: 'feat-peer',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`) }, () => ({ path: name, external: true }));
    },
  };
}

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'api/index': 'src/api/index.ts',
    'redux/index': 'src/redux/index.ts',
    'react/index': 'src/react/index.ts',
    // Node only: a re-export of the optional peer `@feat/emulator` (never bundled here).
    'emulator/index': 'src/emulator-entry.ts',
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
  // `@feat/emulator` is a peer, never bundled (tsconfig's paths point it at src/emulator, for the tests and tsc).
  esbuildPlugins: [peer('@feat/emulator'), lazyGroups()],
});
