/**
 * The package.json fields that let every TypeScript setting find the types (no dist/ needed: the fields are checked
 * against each other). `exports` serves node16/nodenext and bundler resolution; `moduleResolution: "node"` (node10, still
 * in many app tsconfigs on TypeScript 5.x) reads only the top-level `types` and, for the subpaths, `typesVersions`:
 * without them it answered "Cannot find module '@feat/sdk'" for every entry. After `npm run build`,
 * `npx attw --pack . --ignore-rules cjs-resolves-to-esm` checks the same on the packed files (node10 included).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Manifest {
  types?: string;
  typesVersions?: Record<string, Record<string, string[]>>;
  exports: Record<string, string | { types?: string; default?: string }>;
}
const read = (path: string): Manifest => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')) as Manifest;

describe.each(['package.json', 'packages/emulator/package.json'])('%s: types for every resolution', (path) => {
  const manifest = read(path);
  const typed = Object.entries(manifest.exports).flatMap(([subpath, target]) =>
    typeof target === 'object' && target.types ? [[subpath, target.types] as const] : [],
  );

  it('the top-level "types" is the root entry\'s (node10)', () => {
    expect(manifest.types).toBe(typed.find(([subpath]) => subpath === '.')?.[1]);
  });

  it('"typesVersions" maps each subpath to its entry\'s types, and nothing else (node10)', () => {
    const subpaths = Object.fromEntries(typed.filter(([subpath]) => subpath !== '.').map(([subpath, types]) => [subpath.slice(2), [types]]));
    expect(manifest.typesVersions?.['*'] ?? {}).toEqual(subpaths);
  });
});
