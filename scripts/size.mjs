// Size budget: what a browser app loads up front for `import { createFeatClient } from '@feat/sdk'` — the entry
// chunk and its static imports, minified and gzipped, PouchDB excluded. Lazily loaded chunks (the REST clients,
// local adapters) are listed apart. Exits non-zero when over budget.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// 12 kB until #17 (the pending event, watch { current }, initialSync: +0.19 kB up front, measured 12.15 kB).
const BUDGET = 12.25 * 1024;
const entries = { '@feat/sdk': 'dist/index.js', '@feat/sdk/api': 'dist/api/index.js' };
const outdir = mkdtempSync(join(tmpdir(), 'feat-size-'));
let failed = false;
try {
  for (const [name, entry] of Object.entries(entries)) {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      minify: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      outdir,
      write: false,
      metafile: true,
      external: ['pouchdb-*', 'events'],
      logLevel: 'error',
    });
    const files = new Map(result.outputFiles.map((f) => [f.path.slice(outdir.length + 1), f.contents]));
    const outputs = result.metafile.outputs;
    const key = (p) => p.slice(p.lastIndexOf('/') + 1);
    const start = Object.keys(outputs).find((o) => outputs[o].entryPoint === entry);
    const eager = new Set();
    const visit = (o) => {
      if (eager.has(o)) return;
      eager.add(o);
      for (const imp of outputs[o].imports) if (imp.kind === 'import-statement' && outputs[imp.path]) visit(imp.path);
    };
    visit(start);
    // The code that loads together is measured as one gzip stream (as a bundler that inlines the shared chunks
    // would emit it); each lazily loaded chunk is measured on its own.
    const gzOf = (list) => gzipSync(Buffer.concat(list.map((o) => files.get(key(o)))), { level: 9 }).byteLength;
    const eagerGz = gzOf([...eager]);
    const lazyGz = Object.keys(outputs)
      .filter((o) => !eager.has(o) && o.endsWith('.js'))
      .reduce((n, o) => n + gzOf([o]), 0);
    const budgeted = name === '@feat/sdk';
    const over = budgeted && eagerGz > BUDGET;
    failed ||= over;
    console.log(
      `${name}: ${(eagerGz / 1024).toFixed(2)} kB min+gz up front` +
        (lazyGz ? `, ${(lazyGz / 1024).toFixed(2)} kB loaded on demand` : '') +
        (budgeted ? ` (budget ${BUDGET / 1024} kB)` : '') +
        (over ? '  OVER BUDGET' : ''),
    );
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
