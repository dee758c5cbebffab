/**
 * Q1 in Chromium: the same measurement as q1-find.ts — `find` with an index over 10,000 values, 1 % matching,
 * local-first, against raw pouchdb-find on the same documents and index, interleaved run by run — but in a real browser
 * page, on the adapter browsers use (`indexeddb`). The SDK (src/, bundled by esbuild) and raw PouchDB share one page and
 * one copy of pouchdb-core/pouchdb-find. Needs Debian's chromium (CHROMIUM_PATH, default /usr/bin/chromium).
 * Goal (issue #24): ≤ 1.0× raw pouchdb-find.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { runUser, startEmulator } from './backend.js';
import { fmt } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VALUES = Number(process.env.Q1_VALUES ?? 10_000);
const RUNS = Number(process.env.Q1_RUNS ?? 40);
if (!existsSync(CHROMIUM)) {
  console.log(`Q1 in Chromium: skipped, no Chromium at ${CHROMIUM}`);
  process.exit(0);
}

/** The page: runs both sides and returns their timings. */
const PAGE_SCRIPT = `
import { createFeatClient } from ${JSON.stringify(fileURLToPath(new URL('../../src/index.ts', import.meta.url)))};
import PouchDB from 'pouchdb-core';
import IndexedDb from 'pouchdb-adapter-indexeddb';
import find from 'pouchdb-find';
self.run = async ({ couchUrl, accountsUrl, auth, values, runs }) => {
  const client = createFeatClient({ couchUrl, accountsUrl, auth });
  await client.ready();
  const parts = {};
  for (let i = 0; i < values; i++) parts[String(i).padStart(5, '0')] = { cat: 'c' + (i % 100), n: i, title: 'item ' + i };
  await client.store.setParts('items', parts);
  await client.store.createIndex({ fields: ['cat'] });
  await client.sync.waitForPush({ timeout: 300000 });
  const t0 = performance.now();
  while (client.sync.status !== 'idle' && performance.now() - t0 < 120000) await new Promise((r) => setTimeout(r, 50));
  if (!PouchDB.adapters.indexeddb) PouchDB.plugin(IndexedDb);
  const raw = new PouchDB('q1-raw-' + Date.now(), { adapter: 'indexeddb' });
  const docs = Object.entries(parts).map(([s, v]) => ({ _id: 'items:' + s, doc: v, feat: { updatedAt: Date.now() } }));
  for (let i = 0; i < docs.length; i += 1000) await raw.bulkDocs(docs.slice(i, i + 1000));
  await find.createIndex.call(raw, { index: { fields: ['doc.cat'] } });
  const sdkMs = [], rawMs = [];
  let sdkCount = 0, rawCount = 0;
  for (let run = -3; run < runs; run++) {
    const cat = 'c' + ((run + 3) % 100);
    const timeRaw = async () => { const t = performance.now(); rawCount = (await find.find.call(raw, { selector: { 'doc.cat': cat }, limit: 1e9 })).docs.length; return performance.now() - t; };
    const timeSdk = async () => { const t = performance.now(); sdkCount = (await client.store.find({ prefix: 'items', selector: { cat } }, { onWarning: () => {} })).length; return performance.now() - t; };
    let r, s;
    if (run % 2 === 0) { r = await timeRaw(); s = await timeSdk(); } else { s = await timeSdk(); r = await timeRaw(); }
    if (run >= 0) { rawMs.push(r); sdkMs.push(s); }
  }
  await raw.destroy();
  await client.logout({ destroyLocal: true });
  return { sdkMs, rawMs, sdkCount, rawCount };
};
self.loaded = true;
`;

const emu = await startEmulator({ port: 0 });
const [bundle, browser] = await Promise.all([
  build({
    stdin: { contents: PAGE_SCRIPT, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
    define: { global: 'globalThis' },
  }),
  chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'] }),
]);
const files: Record<string, [string, string]> = {
  '/': ['text/html', '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>'],
  '/page.js': ['text/javascript', bundle.outputFiles[0]!.text],
};
const server = createServer((req, res) => {
  const file = files[req.url ?? ''];
  if (!file) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 30_000 });
  const result = (await page.evaluate(
    (args) => (self as unknown as { run(a: unknown): Promise<unknown> }).run(args),
    { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('q1b')), values: VALUES, runs: RUNS },
  )) as { sdkMs: number[]; rawMs: number[]; sdkCount: number; rawCount: number };
  if (result.sdkCount !== VALUES / 100 || result.rawCount !== VALUES / 100) throw new Error(`Q1 in Chromium: expected ${VALUES / 100} matches, got ${result.sdkCount} / ${result.rawCount}`);
  const p50 = (l: number[]) => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!;
  const r = p50(result.rawMs);
  const s = p50(result.sdkMs);
  console.log(`Q1 in Chromium (indexeddb adapter): ${VALUES} values, ${result.sdkCount} matching (1 %), ${RUNS} runs interleaved`);
  console.log(`  baseline (raw pouchdb-find, same docs and index, same page): p50 ${fmt(r)} ms`);
  console.log(`  @feat/sdk store.find:                                       p50 ${fmt(s)} ms`);
  console.log(`  ratio p50: ${fmt(s / r, 2)}× (goal ≤ 1.0×)`);
} finally {
  await browser.close();
  await emu.stop();
  server.close();
}
