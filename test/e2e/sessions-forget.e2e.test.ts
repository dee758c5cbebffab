/**
 * logout() forgets the remembered session even while another connection holds the `feat-sessions` IndexedDB database
 * open (a tab that does not answer, the app's own IndexedDB code: no `versionchange` handler). It never resolves
 * having left the session remembered: it waits for the directory (bounded), and if it is still held it rejects with
 * `timeout` — the session is then forgotten as soon as that connection closes. An offline start afterwards finds no
 * session. Real Chromium.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the logout-forgets browser tests');
const app = () => self as unknown as App & { held?: { release(waitGone?: boolean): Promise<unknown> } };

describe.skipIf(!hasChromium)('logout() while feat-sessions is held open', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  /** Everything in the directory database, as text. */
  const directory = (page: Page) =>
    page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('_pouch_feat-sessions');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const out: string[] = [];
      for (const store of Array.from(db.objectStoreNames)) {
        const rows = await new Promise<unknown[]>((resolve, reject) => {
          const r = db.transaction(store, 'readonly').objectStore(store).getAll();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        out.push(`${store} ${JSON.stringify(rows)}`);
      }
      db.close();
      return out.join('\n');
    });

  /** The page reloaded with the server unreachable: a remembered session would open the replica. */
  async function startOffline(ctx: BrowserContext, page: Page, user: string): Promise<string> {
    await emu.suspend();
    try {
      await load(ctx, origin, page);
      return await page.evaluate((o) => app().settle(app().start(o).then(() => 'opened'), 30_000), optionsFor(emu, user));
    } finally {
      await emu.resume();
    }
  }

  const cases = [
    { destroyLocal: false, releaseAfterMs: undefined, logout: /^rejected timeout$/ },
    { destroyLocal: true, releaseAfterMs: undefined, logout: /^rejected timeout$/ },
    // Held for longer than a best-effort remember waits (3 s), but not for logout's whole bound: it forgets and resolves.
    { destroyLocal: false, releaseAfterMs: 4_500, logout: /^resolved ok$/ },
  ];
  for (const { destroyLocal, releaseAfterMs, logout: expected } of cases) {
    const held = releaseAfterMs ? `held for ${releaseAfterMs} ms` : 'held throughout';
    it(`logout(${destroyLocal ? '{ destroyLocal: true }' : ''}), directory ${held}: ${String(expected).includes('timeout') ? 'rejects with timeout' : 'resolves'}, and the session is forgotten`, async () => {
      const user = `sfg-${run}-${n++}`;
      const hex = Buffer.from(user).toString('hex');
      const ctx = await harness.newContext();
      const { page } = await openApp(ctx, origin, emu, user);
      await page.evaluate(async () => {
        await app().client.store.set('k', 'v1');
        await app().settled(15_000);
      });
      expect(await directory(page)).toContain(hex);
      const holder = await load(ctx, origin);
      await holder.evaluate(async () => void (app().held = await app().hold('_pouch_feat-sessions')));
      const releasing = releaseAfterMs ? new Promise((r) => setTimeout(r, releaseAfterMs)).then(() => holder.evaluate(() => app().held!.release(false))) : undefined;
      const t0 = Date.now();
      const logout = await page.evaluate((d) => app().settle(app().client.logout({ destroyLocal: d }).then(() => 'ok'), 40_000), destroyLocal);
      const logoutMs = Date.now() - t0;
      await (releasing ?? holder.evaluate(() => app().held!.release(false)));
      await holder.close();
      expect({ logout, fast: logoutMs < 25_000 }).toEqual({ logout: expect.stringMatching(expected), fast: true });
      // Rejected: forgotten as soon as the holder let go (the open IndexedDB kept waiting goes on).
      await expect.poll(() => directory(page), { timeout: 5_000 }).not.toContain(hex);
      expect(await startOffline(ctx, page, user)).toBe('rejected network');
      await ctx.close();
    }, 120_000);
  }
});
