// What an install of @feat/sdk brings to a frontend app, measured as a new user would see it: `npm pack` the SDK (and
// the emulator), install the SDK tarball into a fresh Vite + React app, and count what it added to node_modules.
// Exits non-zero when over budget: ≤ 45 packages, ≤ 8 MB, no native modules, no install scripts, no server packages.
//
//   npm run build && npm run install-figure            # needs the npm registry
//   npm run install-figure -- --keep                   # keep the temporary app (its path is printed)
//   npm run install-figure -- --emulator               # also install the @feat/emulator tarball there, run its bin
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BUDGET = { packages: 45, bytes: 8 * 1000 * 1000 };
// Packages that only a server or a Node process needs (the emulator's stack, Node storage, native bindings). pouchdb-find is
// not one of them since queries (#24): the SDK runs it on the browser's replica, loaded on demand.
const SERVER = /^(express|express-pouchdb|body-parser|pouchdb-adapter-(leveldb|memory|leveldb-core)|leveldown|levelup|memdown|level|level-.*|classic-level|node-gyp-build|sqlite3)$/;
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

const repo = resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const npm = (argv, cwd) => run('npm', [...argv, '--no-audit', '--no-fund', '--loglevel=error'], cwd);

if (!existsSync(join(repo, 'dist/index.js')) || !existsSync(join(repo, 'packages/emulator/dist/cli.js'))) {
  console.error('install-figure: run `npm run build` first (dist/ and packages/emulator/dist/ are packed).');
  process.exit(2);
}

/** Every installed package (nested ones too): name → { dir, bytes (its own files), native, scripts }. */
function inventory(root) {
  const found = new Map();
  const sizeOf = (dir) => {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) n += sizeOf(p);
      else n += lstatSync(p).size;
    }
    return n;
  };
  const hasNative = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.name === 'node_modules' ? false : e.isDirectory() ? hasNative(join(dir, e.name)) : e.name === 'binding.gyp' || e.name.endsWith('.node'),
    );
  const walk = (nm) => {
    if (!existsSync(nm)) return;
    for (const e of readdirSync(nm, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      if (e.name.startsWith('@')) {
        for (const s of readdirSync(join(nm, e.name), { withFileTypes: true })) visit(join(nm, e.name, s.name));
      } else visit(join(nm, e.name));
    }
  };
  const visit = (dir) => {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest) || lstatSync(dir).isSymbolicLink()) return;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    const scripts = INSTALL_SCRIPTS.filter((s) => pkg.scripts?.[s]);
    found.set(dir.slice(root.length + 1), { name: pkg.name, version: pkg.version, bytes: sizeOf(dir), native: hasNative(dir) || pkg.gypfile === true, scripts });
    walk(join(dir, 'node_modules'));
  };
  walk(join(root, 'node_modules'));
  return found;
}

const app = mkdtempSync(join(tmpdir(), 'feat-install-'));
let failed = false;
try {
  const pack = (dir) => JSON.parse(npm(['pack', '--json', '--pack-destination', app], dir))[0];
  const sdk = pack(repo);
  const emulator = pack(join(repo, 'packages/emulator'));
  const devDeps = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).devDependencies;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'fresh-vite-react-app',
      private: true,
      type: 'module',
      dependencies: { react: devDeps.react, 'react-dom': devDeps['react-dom'] },
      devDependencies: { vite: devDeps.vite, '@vitejs/plugin-react': devDeps['@vitejs/plugin-react'] },
    }),
  );
  npm(['install'], app);
  const before = inventory(app);
  npm(['install', `./${sdk.filename}`], app);
  const after = inventory(app);
  const added = [...after].filter(([dir]) => !before.has(dir)).map(([, p]) => p);
  const bytes = added.reduce((n, p) => n + p.bytes, 0);
  const native = added.filter((p) => p.native);
  const scripts = added.filter((p) => p.scripts.length);
  const server = added.filter((p) => SERVER.test(p.name));
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(`@feat/sdk tarball: ${sdk.filename}, ${(sdk.size / 1e3).toFixed(1)} kB packed, ${sdk.entryCount} files`);
  console.log(`@feat/emulator tarball: ${emulator.filename}, ${(emulator.size / 1e3).toFixed(1)} kB packed, ${emulator.entryCount} files`);
  console.log(`install into a fresh Vite + React app: +${added.length} packages, +${mb(bytes)} (budget ${BUDGET.packages} packages, ${mb(BUDGET.bytes)})`);
  for (const p of added.sort((a, b) => b.bytes - a.bytes)) console.log(`  ${`${p.name}@${p.version}`.padEnd(44)} ${(p.bytes / 1e3).toFixed(0).padStart(6)} kB`);
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    failed ||= !ok;
  };
  check(added.length <= BUDGET.packages, `${added.length} packages ≤ ${BUDGET.packages}`);
  check(bytes <= BUDGET.bytes, `${mb(bytes)} ≤ ${mb(BUDGET.bytes)}`);
  check(native.length === 0, `no native modules${native.length ? `: ${native.map((p) => p.name).join(', ')}` : ''}`);
  check(scripts.length === 0, `no install scripts${scripts.length ? `: ${scripts.map((p) => p.name).join(', ')}` : ''}`);
  check(server.length === 0, `no server packages${server.length ? `: ${server.map((p) => p.name).join(', ')}` : ''}`);

  if (args.has('--emulator')) {
    npm(['install', '--save-dev', `./${emulator.filename}`], app);
    const help = run(join(app, 'node_modules/.bin/feat-emulator'), ['--help'], app);
    check(help.includes('Usage: feat-emulator'), '`npx feat-emulator --help` answers after `npm i -D @feat/emulator`');
    // The contract's name for it (API.md): `@feat/sdk/emulator`, a re-export of the optional peer.
    const started = run('node', ['--input-type=module', '-e', "const { startEmulator } = await import('@feat/sdk/emulator'); const e = await startEmulator({ port: 0 }); console.log(new URL(e.couchUrl).protocol); await e.stop();"], app);
    check(started.trim() === 'http:', '`startEmulator` from `@feat/sdk/emulator` starts one');
  }
} finally {
  if (args.has('--keep')) console.log(`kept: ${app}`);
  else rmSync(app, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
