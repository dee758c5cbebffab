/**
 * The published types (dist/*.d.ts, through package.json `exports`) as an app meets them. The fixtures in
 * ./types-app (`*.ts.txt`, so that the repo's own typecheck, which maps @feat/sdk to src, leaves them alone) are copied
 * into a throw-away app — its own package.json, node_modules/@feat/sdk → this package, strict +
 * noUncheckedIndexedAccess + exactOptionalPropertyTypes + skipLibCheck: false — and checked with tsc under
 * `moduleResolution: "bundler"` and `"node16"`. Every fixture must compile: the documentation's samples copied as
 * written, and what apps met (each file's comment says what). Needs `npm run build` (dist/) first: `npm test` runs it
 * when dist/ is there; CI runs it after the build with FEAT_REQUIRE_DIST=1 (.ci/run), where a missing dist/ fails.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./types-app/', import.meta.url));
const built = existsSync(join(root, 'dist/index.d.ts')) && existsSync(join(root, 'packages/emulator/dist/index.d.ts'));
if (process.env.FEAT_REQUIRE_DIST === '1' && !built) throw new Error('dist/ (and packages/emulator/dist/) are missing: run `npm run build` first');
const files = readdirSync(fixtures).filter((f) => f.endsWith('.txt')).map((f) => f.slice(0, -4));
const compilerOptions = {
  target: 'ES2022', lib: ['ES2022', 'DOM', 'DOM.Iterable'], module: 'ESNext', moduleResolution: 'bundler', strict: true,
  noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, jsx: 'react-jsx', noEmit: true, skipLibCheck: false,
  types: [], verbatimModuleSyntax: true, isolatedModules: true,
};

/** Builds the app in `dir` (react types: `reactTypes`), runs tsc per resolution, returns its errors per fixture file. */
function check(dir: string, resolutions: string[], reactTypes = join(root, 'node_modules/@types/react')) {
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'node_modules/@feat'), { recursive: true });
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  // @feat/sdk as installed: package.json + dist copied (its own imports — react, ky — resolve in the app)
  mkdirSync(join(dir, 'node_modules/@feat/sdk'));
  cpSync(join(root, 'package.json'), join(dir, 'node_modules/@feat/sdk/package.json'));
  cpSync(join(root, 'dist'), join(dir, 'node_modules/@feat/sdk/dist'), { recursive: true, filter: (p) => !p.endsWith('.map') });
  symlinkSync(join(root, 'packages/emulator'), join(dir, 'node_modules/@feat/emulator'));
  for (const p of ['react', 'ky', 'redux', 'redux-persist', 'csstype', 'vitest', '@vitest', 'valibot']) {
    if (existsSync(join(root, 'node_modules', p))) symlinkSync(join(root, 'node_modules', p), join(dir, 'node_modules', p));
  }
  symlinkSync(reactTypes, join(dir, 'node_modules/@types/react'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'types-app', private: true, type: 'module' }));
  for (const f of files) cpSync(join(fixtures, `${f}.txt`), join(dir, 'src', f));
  const errors: Record<string, Record<string, string[]>> = {};
  for (const resolution of resolutions) {
    const module = resolution === 'bundler' ? 'ESNext' : resolution;
    writeFileSync(join(dir, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions: { ...compilerOptions, module, moduleResolution: resolution }, include: ['src'] }));
    let out = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`], { cwd: dir, encoding: 'utf8' });
    } catch (e) {
      out = (e as { stdout: string }).stdout;
    }
    const byFile: Record<string, string[]> = {};
    for (const block of out.split(/\n(?=\S)/)) {
      const m = /^src\/([^(]+)\((\d+),\d+\): (error TS\d+: .*)/s.exec(block);
      if (m) (byFile[m[1]!] ??= []).push(`line ${m[2]}: ${m[3]!.replace(/\s+/g, ' ').slice(0, 400)}`);
      else if (block.trim()) (byFile['(other)'] ??= []).push(block.trim());
    }
    errors[resolution] = byFile;
  }
  return errors;
}

describe.runIf(built)('published types (dist) in an app: React 19 types, bundler and node16', () => {
  let dir: string;
  let errors: Record<string, Record<string, string[]>>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'feat-types-app-'));
    errors = check(dir, ['bundler', 'node16']);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('no error outside the fixtures (the .d.ts files themselves, skipLibCheck: false)', () => {
    expect(errors['bundler']!['(other)'] ?? []).toEqual([]);
    expect(errors['node16']!['(other)'] ?? []).toEqual([]);
  });
  describe.each(files.map((f) => [f.replace(/\.txt$/, '')]))('%s', (file) => {
    it.each(['bundler', 'node16'])('compiles (moduleResolution %s)', (resolution) => {
      expect(errors[resolution]![file] ?? []).toEqual([]);
    });
  });
});

/** React 18's types: `npm install @types/react@18` into FEAT_TYPES_REACT18 (a folder holding node_modules/@types/react). */
const react18 = process.env.FEAT_TYPES_REACT18 ?? '/tmp/feat-react18-types';
describe.runIf(built && existsSync(join(react18, 'node_modules/@types/react/package.json')))('published types with React 18 types', () => {
  it('the React samples and the hooks contract compile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'feat-types-app18-'));
    try {
      const errors = check(dir, ['bundler'], join(react18, 'node_modules/@types/react'));
      expect(errors['bundler']!['readme-react.tsx'] ?? []).toEqual([]);
      expect(errors['bundler']!['contract.ts'] ?? []).toEqual([]);
      expect(errors['bundler']!['(other)'] ?? []).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
