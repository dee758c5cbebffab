/**
 * `@feat/sdk/redux` (createPersistStorage + syncPersistedState with redux-persist) in several Chromium tabs of one user:
 * local-first with the browser's default adapter (one shared IndexedDB replica, one leader tab). Where a black-box attack
 * found it wrong:
 * - two tabs changing one slice at nearly the same time: a tab's watch reported the other tab's older revision, then its
 *   own newer write (which had resolved before either event came); the older value was applied and the tab stayed on a
 *   value that is not stored;
 * - `persistor.purge()` in a tab: redux-persist ignores every REHYDRATE after it (until reload), but the engine took the
 *   dispatched slices as the tab's, and the tab's next unrelated action wrote its stale slices over the other tab's
 *   saved changes.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';

warnIfNoChromium('the redux-persist several-tabs tests');

const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

/** @feat/sdk, @feat/sdk/redux, redux and redux-persist in one bundle (one SDK instance). */
async function appBundle(): Promise<string> {
  const bundle = await build({
    stdin: {
      contents: [
        `export * as feat from ${JSON.stringify(src('index.ts'))};`,
        `export * as featRedux from ${JSON.stringify(src('redux/index.ts'))};`,
        `export { legacy_createStore, combineReducers } from 'redux';`,
        `export { persistReducer, persistStore } from 'redux-persist';`,
      ].join('\n'),
      resolveDir: fileURLToPath(new URL('.', import.meta.url)),
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"development"' },
    write: false,
    logLevel: 'error',
  });
  return bundle.outputFiles[0]!.text;
}

/** The app: slices `draft` (string), `counter`, `b` (list); syncPersistedState on; records errors and warnings. */
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { feat, featRedux, legacy_createStore, combineReducers, persistReducer, persistStore } from '/app.js';
self.errors = [];
self.warnings = [];
addEventListener('error', (e) => self.errors.push('error: ' + e.message));
addEventListener('unhandledrejection', (e) => self.errors.push('unhandledrejection: ' + String(e.reason && e.reason.message || e.reason)));
const ce = console.error;
console.error = (...a) => { self.errors.push(a.map(String).join(' ')); ce(...a); };
const cw = console.warn;
console.warn = (...a) => { self.warnings.push(a.map(String).join(' ')); cw(...a); };
self.app = () => self;
self.startApp = async (options) => {
  const client = feat.createFeatClient(options);
  const storage = featRedux.createPersistStorage(client.store);
  const reducers = {
    draft: (state = '', action) => action.type === 'draft' ? action.text : state,
    counter: (state = 0, action) => action.type === 'inc' ? state + 1 : state,
    b: (state = [], action) => action.type === 'push' ? [...state, action.id] : state,
  };
  const persistConfig = { key: 'root', storage, throttle: 0 };
  const store = legacy_createStore(persistReducer(persistConfig, combineReducers(reducers)));
  const persistor = persistStore(store);
  Object.assign(self, { client, storage, store, persistor });
  await new Promise((resolve) => {
    const check = () => persistor.getState().bootstrapped && resolve();
    persistor.subscribe(check);
    check();
  });
  self.stopSync = featRedux.syncPersistedState({ store, persistConfig, storage });
  await client.ready();
};
self.state = () => { const { _persist, ...rest } = self.store.getState(); return rest; };
self.saved = async () => { await self.persistor.flush(); await self.storage.flush(); };
self.stored = async () => {
  const raw = await featRedux.createPersistStorage(self.client.store).getItem('persist:root');
  if (raw === null) return null;
  const out = {};
  for (const [k, v] of Object.entries(JSON.parse(raw))) if (k !== '_persist') out[k] = JSON.parse(v);
  return out;
};
self.loaded = true;
</script>`;

type AppState = { draft: string; counter: number; b: string[] };
interface AppGlobals {
  errors: string[];
  warnings: string[];
  store: { dispatch(action: Record<string, unknown>): unknown };
  persistor: { purge(): Promise<void> };
  startApp(options: Record<string, unknown>): Promise<void>;
  state(): AppState;
  saved(): Promise<void>;
  stored(): Promise<AppState | null>;
}
/** The page's own `app` (defined here: page.evaluate serializes the function). */
const app = () => self as unknown as AppGlobals;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasChromium)('redux-persist in several tabs', () => {
  let harness: Harness;
  let n = 0;
  const user = (p: string) => `rtabs-${p}-${process.pid}-${Date.now().toString(36)}-${n++}`;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', PAGE], '/app.js': ['text/javascript', await appBundle()] });
  }, 90_000);
  afterAll(() => harness?.stop());

  async function tab(context: BrowserContext, u: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${harness.origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    const { emu } = harness;
    await page.evaluate((o) => app().startApp(o), { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(u) });
    return page;
  }
  const state = (p: Page) => p.evaluate(() => app().state());
  const stored = (p: Page) => p.evaluate(() => app().stored());
  const saved = (p: Page) => p.evaluate(() => app().saved());
  const dispatch = (p: Page, action: Record<string, unknown>) => p.evaluate((a) => void app().store.dispatch(a), action);
  async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  }

  it('one change per tab to the same slice at nearly the same time, up to 20 rounds: after each round both tabs show what is stored', async () => {
    const u = user('same');
    const context = await harness.newContext();
    const A = await tab(context, u);
    const B = await tab(context, u);
    const diverged: string[] = [];
    for (let round = 0; round < 20 && diverged.length === 0; round++) {
      await Promise.all([dispatch(B, { type: 'draft', text: `B${round}` }), dispatch(A, { type: 'draft', text: `A${round}` })]);
      await Promise.all([saved(A), saved(B)]);
      const show = async () => {
        const [sa, sb, st] = await Promise.all([state(A), state(B), stored(A)]);
        return { A: sa.draft, B: sb.draft, stored: st?.draft };
      };
      // Settled: both tabs on the stored value (a stale value would stay for good).
      if (!(await until(async () => new Set(Object.values(await show())).size === 1, 3_000))) diverged.push(`round ${round}: ${JSON.stringify(await show())}`);
    }
    expect(diverged).toEqual([]);
    // No echo: once settled, nothing more is written.
    const draft = (await stored(A))?.draft;
    await sleep(500);
    expect((await stored(B))?.draft).toBe(draft);
    for (const p of [A, B]) expect(await p.evaluate(() => app().errors)).toEqual([]);
  }, 60_000);

  it('purge() in tab A, tab B changes a slice (also while A purges), then A does something unrelated: none of B’s changes is lost; A says to reload; a reload shows them', async () => {
    const u = user('purge');
    const context = await harness.newContext();
    const A = await tab(context, u);
    const B = await tab(context, u);
    await dispatch(A, { type: 'draft', text: 'kept' });
    await saved(A);
    expect(await until(async () => (await state(B)).draft === 'kept', 10_000)).toBe(true);
    // B pushes while A purges, and goes on for 10 more pushes once the purge is done (so B writes after the purge's
    // deletions: what B then stores holds all its pushes).
    const writing = B.evaluate(async () => {
      const g = self as unknown as { stopAt?: number };
      let i = 0;
      for (; g.stopAt === undefined || i < g.stopAt; i++) {
        app().store.dispatch({ type: 'push', id: `B${i}` });
        await new Promise((r) => setTimeout(r, 10));
      }
      await app().saved();
      return i;
    });
    expect(await until(async () => (await state(B)).b.length >= 3, 10_000)).toBe(true);
    await A.evaluate(() => app().persistor.purge());
    const pushes = (await state(B)).b.length + 10;
    await B.evaluate((n) => void ((self as unknown as { stopAt?: number }).stopAt = n), pushes);
    const want = Array.from({ length: await writing }, (_, i) => `B${i}`);
    // A's sync has B's changes (its REHYDRATEs are ignored by redux-persist after the purge)…
    await sleep(1_000);
    // …then A does something unrelated.
    await dispatch(A, { type: 'inc' });
    await saved(A);
    await sleep(500);
    const st = await stored(A);
    expect(st?.b, 'B’s pushes stay stored').toEqual(want);
    expect(st?.counter, 'A’s own change is stored').toBe(1);
    const same = (x: AppState | null) => JSON.stringify(x && [x.draft, x.counter, x.b]);
    await until(async () => same(await state(B)) === same(await stored(B)), 5_000);
    expect(await state(B), "B shows what is stored").toEqual(await stored(B));
    expect((await state(B)).b).toEqual(want);
    expect((await A.evaluate(() => app().warnings)).join('\n')).toMatch(/purge\(\).*reload/);
    for (const p of [A, B]) expect(await p.evaluate(() => app().errors)).toEqual([]);
    // Reloaded, A shows everything.
    await A.reload();
    await A.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    const { emu } = harness;
    await A.evaluate((o) => app().startApp(o), { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(u) });
    expect(await state(A)).toEqual({ draft: 'kept', counter: 1, b: want });
  }, 60_000);
});
