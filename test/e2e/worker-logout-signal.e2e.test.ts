/**
 * `logout({ destroyLocal: true })` removes PouchDB's cross-tab change signal (`localStorage['_pouch_feat-<dbName>']`,
 * whose key names the user's database: README "What the device keeps"). Called in a Web Worker, which has no
 * `localStorage`, it left the signal that the page's own client had set — that client closed by the worker's logout.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, optionsFor, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

/** A module worker running the SDK: runs the code it is sent (an async function body; `arg`, `feat`, `self`). */
const WORKER = `import * as feat from '/sdk.js';
const AsyncFunction = (async () => {}).constructor;
self.onmessage = async (e) => {
  const { id, code, arg } = e.data;
  try { self.postMessage({ id, ok: true, value: await new AsyncFunction('arg', 'feat', code)(arg, feat) }); }
  catch (error) { self.postMessage({ id, ok: false, value: (error && error.code) || String(error) }); }
};
self.postMessage({ ready: true });`;

interface WithWorker {
  inWorker(code: string, arg?: unknown): Promise<unknown>;
}

/** Starts the page's worker (`self.inWorker(code, arg)`). */
const spawnWorker = (p: Page) =>
  p.evaluate(
    () =>
      new Promise<void>((ready) => {
        const w = new Worker('/worker.js', { type: 'module' });
        const waiting = new Map<number, (r: { ok: boolean; value: unknown }) => void>();
        let n = 0;
        w.onmessage = (e: MessageEvent) => {
          if (e.data.ready) return ready();
          waiting.get(e.data.id)?.(e.data);
          waiting.delete(e.data.id);
        };
        (self as unknown as WithWorker).inWorker = (code, arg) =>
          new Promise((resolve, reject) => {
            waiting.set(++n, (r) => (r.ok ? resolve(r.value) : reject(new Error(String(r.value)))));
            w.postMessage({ id: n, code, arg });
          });
      }),
  );
const inWorker = (p: Page, code: string, arg?: unknown) => p.evaluate(([c, a]) => (self as unknown as WithWorker).inWorker(c, a), [code, arg] as const);
const START = `self.client = feat.createFeatClient(arg); await self.client.ready(); return 1;`;

/** The page's `localStorage` keys naming `dbName`. */
const signals = (p: Page, dbName: string) =>
  p.evaluate((db) => Object.keys(localStorage).filter((k) => k.includes(db)), dbName);

warnIfNoChromium('the worker-logout change-signal browser tests');

describe.skipIf(!hasChromium)("logout({ destroyLocal: true }) and the page's change signal", () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE], '/worker.js': ['text/javascript', WORKER] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  for (const who of ['worker', 'page'] as const) {
    it.concurrent(`in the ${who}, while the other has a client of the same user: the signal is gone from the page`, async ({ expect }) => {
      const user = `wls-${who}-${run}`;
      const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
      const { dbName } = await page.evaluate(() => app().client.ready());
      await spawnWorker(page);
      await inWorker(page, START, optionsFor(emu, user));
      await page.evaluate(() => app().client.store.set('k', 'from-page'));
      await inWorker(page, `await self.client.store.set('kw', 'from-worker'); return 1`);
      expect(await signals(page, dbName)).toEqual([`_pouch_feat-${dbName}`]);
      if (who === 'worker') await inWorker(page, `await self.client.logout({ destroyLocal: true }); return 1`);
      else await page.evaluate(() => app().client.logout({ destroyLocal: true }));
      // The other context's client was closed by the logout.
      const other = who === 'worker' ? page.evaluate(() => app().settle(app().client.store.get('k'), 10_000)) : inWorker(page, `return self.client.store.get('k').then(() => 'resolved', (e) => 'rejected ' + e.code)`);
      expect(await other).toBe('rejected closed');
      expect(await page.evaluate(async (db) => (await indexedDB.databases()).filter((d) => d.name?.includes(db)), dbName)).toEqual([]);
      await expect.poll(() => signals(page, dbName), { timeout: 5_000 }).toEqual([]);
    }, 60_000);
  }
});
