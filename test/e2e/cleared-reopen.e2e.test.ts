/**
 * The site's data cleared while the replica is being written (README "The site's data cleared under a running app").
 * IndexedDB aborts the transactions under way when it closes the connection; PouchDB's `indexeddb` adapter takes an
 * aborted transaction for a failure of its handle and opens the database anew, with a new version: after the clear,
 * that creates a new, empty replica. The client went on with it as if its data were still there (a read answered
 * `undefined`, a write "succeeded"), and never said `storage_lost`. Now it notices the new database and says so.
 * Real Chromium; the site's data cleared through the DevTools protocol (`Storage.clearDataForOrigin`).
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, type App } from '../attack/browser-page.js';

warnIfNoChromium('the cleared-while-writing browser tests');
const app = () => self as unknown as App;

describe.skipIf(!hasChromium)('site data cleared while the replica is written', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  it('a write under way when the data is cleared: storage_lost once, every call says so, no new replica is left behind', async () => {
    const user = `clrw-${run}`;
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.set('a', 1);
      await app().settled(15_000);
    });
    // Writes one after another (each one a transaction) until told to stop: one is under way when the clear comes.
    await page.evaluate(() => {
      const s = self as unknown as { writing: boolean; wrote: Promise<void> };
      s.writing = true;
      s.wrote = (async () => {
        // (A task between writes: once the replica is lost they fail at once, and the loop must let the timers run.)
        for (let i = 0; s.writing; i++) {
          await app().client.store.set(`w${i % 20}`, { i, pad: 'x'.repeat(2_000) }).catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      })();
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb,local_storage' });
    const after = await page.evaluate(async () => {
      const s = self as unknown as { writing: boolean; wrote: Promise<void> };
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      s.writing = false;
      // (A write whose transaction the clear aborted is answered in time: a `timeout` at worst.)
      await app().settle(s.wrote, 40_000);
      const c = app().client;
      const codes = [];
      for (const call of [() => c.store.get('a'), () => c.store.set('c', 3), () => c.store.keys()]) codes.push(await app().settle(call() as Promise<unknown>, 10_000));
      // Still gone a moment later: nothing the client does opens a new replica.
      const deadline = Date.now() + 10_000;
      let listed: string[] = [];
      do {
        const all = await Promise.race([indexedDB.databases(), new Promise<IDBDatabaseInfo[]>((resolve) => setTimeout(() => resolve([{ name: 'feat-userdb: databases() did not answer' }]), 5_000))]);
        listed = all.flatMap((d) => (d.name?.includes('feat-userdb') ? [`${d.name}@${d.version}`] : []));
        if (!listed.length) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      } while (Date.now() < deadline);
      return { codes, listed, status: c.sync.status, errors: app().seen.errors };
    });
    expect(after).toEqual({ codes: Array(3).fill('rejected storage_lost'), listed: [], status: 'error', errors: ['storage_lost'] });
    await page.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }), 15_000));
    await ctx.close();
  }, 90_000);
});
