/**
 * A tab that slept through another tab's `logout({ destroyLocal: true })` (README "Several tabs › Logout"): two tabs of
 * user A, one of them frozen (its JavaScript paused through the DevTools protocol, as a browser freezes a background
 * tab: it holds the IndexedDB connection and its locks, and hears nothing) with a write in flight. The other logs out
 * with `destroyLocal` (bounded: `timeout`, the frozen tab holding the replica) and signs in user B. The frozen tab then
 * wakes: it closes before anything else — its calls fail with `closed`, not `storage_lost` (that is for the site's
 * data cleared: test/e2e/cleared-tabs.e2e.test.ts) — and it neither re-creates A's replica nor sees B's data. The
 * leader's case is the one that matters: it finds its replica deleted as it wakes, before it hears the close request.
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { CHROMIUM, hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { sleep } from '../support/backend.js';
import { APP_PAGE, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('a frozen tab waking after another tab logged out');
const app = () => self as unknown as App;

describe.skipIf(!hasChromium)('a frozen tab wakes after another tab logged out with destroyLocal (Chromium)', () => {
  let harness: Harness;
  let browser: Browser;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `frozen-${what}-${run}-${n++}`;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
    // As a real browser runs: background tabs' timers throttled, the back/forward cache on (playwright turns both off,
    // and the leader's case passed then).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
      ignoreDefaultArgs: ['--disable-back-forward-cache', '--disable-background-timer-throttling'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await harness?.stop();
  });

  for (const frozenRole of ['leader', 'follower'] as const) {
    it(`the ${frozenRole} frozen holding the replica; the other tab logs out (destroyLocal) and opens user B: the frozen tab wakes closed`, async () => {
      const userA = userFor('a');
      const userB = userFor('b');
      const context = await browser.newContext();
      const first = await openApp(context, origin, emu, userA);
      await first.page.evaluate(() => app().client.store.set('secret-of-a', 'A only'));
      await first.page.evaluate(() => app().client.sync.waitForPush({ timeout: 15_000 }));
      const second = await openApp(context, origin, emu, userA);
      expect(first.leader).toBe(true);
      expect(second.leader).toBe(false);
      const frozen = frozenRole === 'leader' ? first.page : second.page;
      const other = frozenRole === 'leader' ? second.page : first.page;
      const dbA = await other.evaluate(() => app().client.session!.dbName);

      // Frozen mid-use: a write in flight.
      void frozen.evaluate(() => void app().client.store.set('frozen-write', 'x'));
      const cdp = await context.newCDPSession(frozen);
      await cdp.send('Debugger.enable');
      await cdp.send('Debugger.pause');
      await sleep(500);

      // Bounded although the frozen tab never answers (README: `timeout`, the deletion done once it lets go).
      const t0 = Date.now();
      const logout = await other.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }), 60_000));
      expect(logout).not.toMatch(/still waiting/);
      expect(Date.now() - t0).toBeLessThan(35_000);
      expect(await other.evaluate((o) => app().settle(app().start(o), 30_000), optionsFor(emu, userB))).toMatch(/^resolved/);
      expect(await other.evaluate(() => app().client.store.keys(''))).toEqual([]);
      await other.evaluate(() => app().client.store.set('b-own', 'B'));
      expect(await other.evaluate(() => app().settle(app().client.sync.waitForPush({ timeout: 20_000 }), 25_000))).toMatch(/^resolved/);

      // The frozen tab wakes: closed before anything else.
      await cdp.send('Debugger.resume');
      await cdp.send('Debugger.disable');
      await sleep(3_000);
      expect(await frozen.evaluate(() => app().settle(app().client.store.get('secret-of-a'), 15_000))).toBe('rejected closed');
      expect(await frozen.evaluate(() => app().settle(app().client.store.set('after-wake', 1), 15_000))).toBe('rejected closed');
      const errors = await frozen.evaluate(() => app().seen.errors);
      expect(errors).toContain('closed');
      expect(errors).not.toContain('storage_lost');
      expect(await frozen.evaluate(() => app().seen.events.some((e) => e.key === 'b-own'))).toBe(false);
      // Its close() ends (the adapter, its database gone, would never answer a close).
      expect(await frozen.evaluate(() => app().settle(app().client.close(), 10_000))).toMatch(/^resolved/);
      // A's replica is deleted (not made again by the woken tab).
      await expect
        .poll(() => other.evaluate(async (name) => (await indexedDB.databases()).some((d) => d.name === name), `_pouch_feat-${dbA}`), { timeout: 20_000, interval: 500 })
        .toBe(false);
      // B still works after the frozen tab woke up.
      await other.evaluate(() => app().client.store.set('b-own2', 'B2'));
      expect(await other.evaluate(() => app().settle(app().client.sync.waitForPush({ timeout: 20_000 }), 25_000))).toMatch(/^resolved/);
    }, 180_000);
  }
});
