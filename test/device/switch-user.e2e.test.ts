/**
 * Switching users in one tab, in Chromium (real IndexedDB, the default `indexeddb` adapter): user A uses the app
 * (values, parts, watches, redux-persist through `@feat/sdk/redux`), `await logout()`, then a new client for B, then
 * A again. Nothing may be logged to the console (PouchDB's "onblocked, this should never happen" came from an IndexedDB
 * open blocked by a connection of the same tab still open), and each user sees only their own data.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import type { FeatPersistStorage } from '@feat/sdk/redux';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { optionsFor, readOnServer } from '../attack/browser-page.js';

warnIfNoChromium('switching users in one tab');
const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

/**
 * The page: every console message of level error or warning is kept (`self.logged`), and every IndexedDB open that is
 * `blocked` (`self.blocked`: the database's name and the version asked for).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><script>
self.logged = [];
self.blocked = [];
for (const level of ['error', 'warn']) {
  const original = console[level];
  console[level] = (...a) => { self.logged.push(level + ' ' + a.map(String).join(' ')); original.apply(console, a); };
}
addEventListener('error', (e) => self.logged.push('uncaught ' + e.message));
addEventListener('unhandledrejection', (e) => self.logged.push('unhandled ' + String(e.reason && (e.reason.code || e.reason.message))));
const open = IDBFactory.prototype.open;
IDBFactory.prototype.open = function (name, version) {
  const request = open.apply(this, arguments);
  request.addEventListener('blocked', () => self.blocked.push(name + ' v' + version));
  return request;
};
</script><script type="module">
import { feat, featRedux } from '/app.js';
self.start = async (options) => {
  const client = feat.createFeatClient(options);
  self.client = client;
  self.events = [];
  client.store.watch({ prefix: '' }, (e) => self.events.push(e.key));
  client.store.watch('note', () => undefined);
  await client.ready();
  self.persist = featRedux.createPersistStorage(client.store);
};
self.app = () => self;
self.loaded = true;
</script>`;

interface PageApp {
  client: FeatClient;
  persist: FeatPersistStorage;
  logged: string[];
  blocked: string[];
  events: string[];
  start(options: Record<string, unknown>): Promise<void>;
}
const app = () => self as unknown as PageApp;

describe.skipIf(!hasChromium)('switching users in one tab (Chromium, IndexedDB)', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);

  beforeAll(async () => {
    const bundle = await build({
      stdin: {
        contents: `export * as feat from ${JSON.stringify(src('index.ts'))};\nexport * as featRedux from ${JSON.stringify(src('redux/index.ts'))};`,
        resolveDir: fileURLToPath(new URL('.', import.meta.url)),
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'error',
    });
    harness = await startHarness({ '/': ['text/html', PAGE], '/app.js': ['text/javascript', bundle.outputFiles[0]!.text] });
    ({ emu } = harness);
  }, 90_000);
  afterAll(() => harness?.stop());

  /** A's or B's session of the app: signs in, uses every part of the store, and answers what it sees. */
  const use = (page: Page, user: string, tag: string) =>
    page.evaluate(
      async ({ options, tag }) => {
        await app().start(options);
        const seen = { note: await app().client.store.get('note'), parts: await app().client.store.getParts('draft'), persisted: await app().persist.getItem('persist:root') };
        await app().client.store.set('note', `${tag}-note`);
        await app().client.store.setParts('draft', { title: `${tag}-title`, body: `${tag}-body` });
        await app().persist.setItem('persist:root', JSON.stringify({ user: JSON.stringify(tag), _persist: JSON.stringify({ version: -1, rehydrated: true }) }));
        await app().persist.flush();
        await app().client.sync.waitForPush({ timeout: 20_000 });
        return seen;
      },
      { options: optionsFor(emu, user), tag },
    );
  /** The last writes, not awaited (a keystroke as the user clicks "sign out"), then logout(): both writes succeed. */
  const logout = (page: Page, tag: string) =>
    page.evaluate(async (tag) => {
      const outcome = (write: Promise<unknown>) => write.then(() => 'ok', (e: { code?: string }) => e.code);
      const writes = [outcome(app().client.store.set('note', `${tag}-last`)), outcome(app().client.store.setParts('draft', { body: `${tag}-last-body` }))];
      await app().client.logout();
      return Promise.all(writes);
    }, tag);

  it('A → logout → B → logout → A: no console error (no blocked IndexedDB open), A gets A\'s data back, B sees nothing of A', async () => {
    const context = await harness.newContext();
    const page = await context.newPage();
    if (process.env.ATTACK_DEBUG) page.on('console', (m) => console.log(`[page] ${m.type()} ${m.text()}`));
    await page.goto(`${harness.origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    const userA = `switch-a-${run}`;
    const userB = `switch-b-${run}`;

    const first = await use(page, userA, 'A');
    expect(first).toEqual({ note: undefined, parts: {}, persisted: null });
    expect(await logout(page, 'A')).toEqual(['ok', 'ok']);

    const b = await use(page, userB, 'B');
    expect(b, 'B sees nothing of A').toEqual({ note: undefined, parts: {}, persisted: null });
    const atB = await page.evaluate(() => ({ logged: app().logged.slice(), blocked: app().blocked.slice() }));
    expect(await logout(page, 'B')).toEqual(['ok', 'ok']);

    const again = await use(page, userA, 'A2');
    expect(again.note, "A's data back for A").toBe('A-last');
    expect(again.parts).toEqual({ title: 'A-title', body: 'A-last-body' });
    expect(again.persisted).toContain('\\"A\\"');
    // (B's last writes reach B's database now, or when B signs in again: logout() does not wait for the push.)
    const onServerB = await readOnServer(emu, userB, ['note', 'draft:title', 'draft:body']);
    expect(onServerB).toMatchObject({ note: expect.stringMatching(/^B-(note|last)$/), 'draft:title': 'B-title', 'draft:body': expect.stringMatching(/^B-(last-)?body$/) });
    await page.evaluate(() => app().client.close());

    const { logged, blocked } = await page.evaluate(() => ({ logged: app().logged, blocked: app().blocked }));
    const at = `(by the time B was shown: ${JSON.stringify(atB)})`;
    expect(logged.filter((m) => /onblocked/.test(m)), at).toEqual([]);
    expect(blocked, at).toEqual([]);
    expect(logged, at).toEqual([]);
  }, 120_000);
});
