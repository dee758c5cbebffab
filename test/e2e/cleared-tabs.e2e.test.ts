/**
 * The site's data cleared under two tabs of one user (README "The site's data cleared under a running app"): one tab is
 * reloaded and starts again from the server; the other is left open with its replica lost. The lost tab leaves the
 * tabs' election at once and never takes it again, and says `storage_lost` once; the reloaded tab leads, gets the
 * server's data and pushes its writes. Real Chromium; the site's data cleared through the DevTools protocol
 * (`Storage.clearDataForOrigin`), as DevTools' "Clear site data" does.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the cleared-site-data tabs tests');
const app = () => self as unknown as App;

describe.skipIf(!hasChromium)('site data cleared under two tabs, one reloaded', () => {
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

  /** Two tabs of `user`, tab 1 leading, with `a` synced; then the site's data cleared. */
  async function clearedUnderTwoTabs(ctx: BrowserContext, user: string): Promise<{ tab1: Page; tab2: Page }> {
    const { page: tab1, leader } = await openApp(ctx, origin, emu, user);
    expect(leader).toBe(true);
    const tab2 = await load(ctx, origin);
    expect((await tab2.evaluate((o) => app().start(o), optionsFor(emu, user))).leader).toBe(false);
    await tab1.evaluate(async () => {
      await app().client.store.set('a', 'A1');
      await app().settled(15_000);
    });
    const cdp = await ctx.newCDPSession(tab1);
    await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb,local_storage' });
    // The replica is gone (a tab's adapter may list it again for a moment while it fails to reopen it).
    await tab1
      .waitForFunction(async () => !(await indexedDB.databases()).some((d) => d.name?.includes('feat-userdb')), undefined, { timeout: 10_000, polling: 50 })
      .catch(() => console.warn('the cleared replica is still listed after 10 s'));
    return { tab1, tab2 };
  }

  /** Tab 1 reloaded: it leads, reads the server's `a`, and its write reaches the server. */
  async function reloadedTabSyncs(ctx: BrowserContext, tab1: Page, user: string): Promise<void> {
    const t0 = Date.now();
    await openApp(ctx, origin, emu, user, tab1);
    const readyMs = Date.now() - t0;
    const t1 = await tab1.evaluate(async () => {
      const c = app().client;
      await c.store.set('after-reload', 'tab 1');
      const t = Date.now();
      let a: unknown;
      while (Date.now() - t < 15_000 && (a = await c.store.get('a')) === undefined) await new Promise((r) => setTimeout(r, 100));
      const push = await app().settle(c.sync.waitForPush({ timeout: 10_000 }), 12_000);
      return { a, push, leader: c.sync.leader, status: c.sync.status, errors: app().seen.errors };
    });
    const server = createFeatClient({ ...optionsFor(emu, user), mode: 'remote' });
    const onServer = await server.store.get('after-reload');
    await server.close();
    expect({ ...t1, onServer }).toEqual({ a: 'A1', push: 'resolved value', leader: true, status: 'idle', errors: [], onServer: 'tab 1' });
    // It never waited for a leader that does not sync (initialSyncTimeout is 10 s).
    expect(readyMs).toBeLessThan(8_000);
  }

  it('the other tab noticed the loss first: it leaves the election, says storage_lost once, and the reloaded tab leads and syncs', async () => {
    const user = `clr-${run}-${n++}`;
    const ctx = await harness.newContext();
    const { tab1, tab2 } = await clearedUnderTwoTabs(ctx, user);
    expect(await tab2.evaluate(() => app().settle(app().client.store.get('a'), 10_000))).toBe('rejected storage_lost');
    await reloadedTabSyncs(ctx, tab1, user);
    // Still lost, and still not the leader, after the reloaded tab's takeover; one storage_lost in all.
    const t2 = await tab2.evaluate(async () => ({
      get: await app().settle(app().client.store.get('a'), 10_000),
      leader: app().client.sync.leader,
      status: app().client.sync.status,
      errors: app().seen.errors,
    }));
    expect(t2).toEqual({ get: 'rejected storage_lost', leader: false, status: 'error', errors: ['storage_lost'] });
    await ctx.close();
  }, 120_000);

  it('the other tab noticed nothing before the reload: it does not keep the lead it takes, and the reloaded tab syncs', async () => {
    const user = `clr-${run}-${n++}`;
    const ctx = await harness.newContext();
    const { tab1, tab2 } = await clearedUnderTwoTabs(ctx, user);
    await reloadedTabSyncs(ctx, tab1, user);
    const t2 = await tab2.evaluate(async () => ({
      get: await app().settle(app().client.store.get('a').then(String), 10_000),
      leader: app().client.sync.leader,
      lost: app().seen.errors.filter((code) => code === 'storage_lost').length,
    }));
    expect(t2.leader).toBe(false);
    expect(t2.lost).toBeLessThanOrEqual(1);
    expect(t2.get).toMatch(/^(resolved A1|rejected storage_lost)$/);
    await ctx.close();
  }, 120_000);
});
