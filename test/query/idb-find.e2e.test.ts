/**
 * `store.find()` on an `indexeddb` replica, in Chromium: what query/idb-index.ts and query/design-cache.ts change.
 * - An equality on one indexed field is read with one IndexedDB `getAll`: its answer is compared, document for
 *   document, with raw pouchdb-find's on the same replica (PouchDB's own `indexeddb` adapter, loaded in the page).
 * - The design documents and chunked values' manifests a tab keeps in memory follow what other tabs write.
 */
import type { Page } from 'playwright-core';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, type App } from '../attack/browser-page.js';

const app = () => self as unknown as App & { RawPouch: new (name: string, options: object) => RawDb; getAlls: number };
interface RawDb {
  find(request: object): Promise<{ docs: { _id: string; doc?: unknown }[] }>;
  close(): Promise<void>;
}

warnIfNoChromium('the indexeddb find tests');

/** PouchDB with the `indexeddb` adapter and pouchdb-find, as an app would load them; and a count of `getAll` calls on query indexes. */
const RAW = `
import PouchDB from 'pouchdb-core';
import IndexedDb from 'pouchdb-adapter-indexeddb';
import find from 'pouchdb-find';
PouchDB.plugin(IndexedDb);
PouchDB.plugin(find);
self.RawPouch = PouchDB;
self.getAlls = 0;
const getAll = IDBIndex.prototype.getAll;
IDBIndex.prototype.getAll = function (...args) { if (this.name.startsWith('_find_idx/')) self.getAlls++; return getAll.apply(this, args); };
`;

describe.skipIf(!hasChromium)('find on an indexeddb replica (Chromium)', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `idbfind-${what}-${run}-${n++}`;

  beforeAll(async () => {
    const raw = await build({ stdin: { contents: RAW, resolveDir: process.cwd(), loader: 'js' }, bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'error', define: { global: 'globalThis' } });
    const page = APP_PAGE.replace("import * as feat from '/sdk.js';", "import '/raw.js';\nimport * as feat from '/sdk.js';");
    harness = await startHarness({ '/': ['text/html', page], '/raw.js': ['text/javascript', raw.outputFiles[0]!.text] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  async function tabs(user: string, count: number): Promise<Page[]> {
    const context = await harness.newContext();
    const pages: Page[] = [];
    for (let i = 0; i < count; i++) pages.push((await openApp(context, origin, emu, user)).page);
    return pages;
  }

  it('an equality on one indexed field: the documents raw pouchdb-find returns on the same replica, in its order, through getAll', async () => {
    const [page] = (await tabs(userFor('contract'), 1)) as [Page];
    const report = await page.evaluate(async () => {
      const { store } = app().client;
      const values: Record<string, unknown> = {};
      const kinds: unknown[] = ['a', 'b', '', 'ä', '日本', 0, 1, -1, 1.5, 1e300, true, false, null, [1, 2], { a: 1 }];
      for (let i = 0; i < 120; i++) {
        const v = kinds[i % kinds.length];
        values[`p${String(i).padStart(3, '0')}`] = i % 17 === 0 ? { other: i } : { v, i };
      }
      await store.setParts('c', values);
      await store.set('plain', { v: 'a', i: -1 }); // outside the prefix
      await store.createIndex({ fields: ['v'] });
      // Rewritten (a new revision; some now match, some no longer do) and removed values.
      await store.setParts('c', { p000: { v: 'a', i: 1000 }, p001: { v: 'zzz', i: 1001 }, p002: { v: null, i: 1002 } });
      await Promise.all(['c:p015', 'c:p016', 'c:p030'].map((key) => store.remove(key)));
      const name = (await indexedDB.databases()).map((d) => d.name ?? '').find((d) => d.startsWith('_pouch_feat-userdb-'))!.slice('_pouch_'.length);
      const raw = new (app().RawPouch)(name, { adapter: 'indexeddb' });
      // Scalars: an array or object there is no key of an IndexedDB index (and raw pouchdb-find fails on them where a
      // value holds null: test/query/find.test.ts has the SDK's answers).
      const probes: unknown[] = ['a', 'b', '', 'ä', '日本', 0, 1, -1, 1.5, 1e300, true, false, null, 'absent', 2];
      const out: { probe: unknown; sdk: unknown[]; raw: unknown[]; getAlls: number }[] = [];
      for (const probe of probes) {
        const before = app().getAlls;
        const sdk = (await store.find({ prefix: 'c', selector: { v: probe } }, { onWarning: () => {} })).map((r) => [r.subkey, r.value]);
        const getAlls = app().getAlls - before;
        const rawDocs = (await raw.find({ selector: { 'doc.v': probe }, limit: 1e9 })).docs;
        const rawRows = rawDocs.filter((d) => d._id.startsWith('c:')).map((d) => [d._id.slice(2), d.doc]);
        out.push({ probe, sdk, raw: rawRows, getAlls });
      }
      await raw.close();
      return out;
    });
    for (const { probe, sdk, raw, getAlls } of report) {
      expect(sdk, `find({ v: ${JSON.stringify(probe)} })`).toEqual(raw);
      // null, false and true are read from pouchdb-find's views: the native index may miss them (query/idb-index.ts).
      const native = typeof probe === 'string' || typeof probe === 'number';
      expect(getAlls > 0, `getAll calls for ${JSON.stringify(probe)}`).toBe(native);
    }
    const matches = Object.fromEntries(report.map((r) => [JSON.stringify(r.probe), r.sdk.length]));
    // The data has what each probe should find: not a comparison of two empty answers.
    expect(matches['"a"']).toBeGreaterThan(5);
    expect(matches.null).toBeGreaterThan(5);
    expect(matches.false).toBeGreaterThan(5);
    expect(matches['"absent"']).toBe(0);
  }, 90_000);

  it('a chunked value another tab wrote after this tab\'s last find is found', async () => {
    const [a, b] = (await tabs(userFor('manifests'), 2)) as [Page, Page];
    const found = () => b.evaluate(async () => (await app().client.store.find<{ kind: string }>({ prefix: 'docs', selector: { kind: 'big' } })).map((r) => r.subkey));
    await a.evaluate(() => app().client.store.setParts('docs', { small: { kind: 'big', body: 'x' } }));
    expect(await found()).toEqual(['small']);
    await a.evaluate(async () => {
      const body = Array.from({ length: 150_000 }, (_, i) => `w${i}`).join(' '); // over 1 MiB: stored in chunks
      await app().client.store.setParts('docs', { large: { kind: 'big', body } });
    });
    expect(await found()).toEqual(['large', 'small']);
  }, 90_000);

  it('an index another tab made serves this tab\'s next find (no full scan), with the same results', async () => {
    const [a, b] = (await tabs(userFor('designs'), 2)) as [Page, Page];
    await a.evaluate(async () => {
      const parts: Record<string, { n: number }> = {};
      for (let i = 0; i < 30; i++) parts[`t${String(i).padStart(2, '0')}`] = { n: i % 3 };
      await app().client.store.setParts('t', parts);
    });
    const query = () =>
      b.evaluate(async () => {
        const warnings: string[] = [];
        const rows = await app().client.store.find({ prefix: 't', selector: { n: 1 } }, { onWarning: (w) => warnings.push(w) });
        return { keys: rows.map((r) => r.subkey), warnings };
      });
    const before = await query();
    expect(before.keys).toHaveLength(10);
    expect(before.warnings).toEqual(['No matching index found, create an index to optimize query time.']);
    await a.evaluate(() => app().client.store.createIndex({ fields: ['n'] }));
    const after = await query();
    expect(after).toEqual({ keys: before.keys, warnings: [] });
  }, 90_000);
});
