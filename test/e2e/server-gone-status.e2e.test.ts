/**
 * The server goes away while the live feed is idle (connected, between heartbeats): Chromium ends the cut answer with
 * `TypeError: network error`, which is the network, as its other wordings are. The status turns `offline`, the error
 * events say `network`, never `error` / `bad_response` (README "Sync status").
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

warnIfNoChromium('the server-gone status browser test');

describe.skipIf(!hasChromium)('the server gone while the live feed is idle', () => {
  let harness: Harness;
  let emu: Emulator;
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  it('status offline and `network` errors, never `error` / `bad_response`', async () => {
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, `sgs-${Date.now().toString(36)}`);
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
    await sleep(1_000);
    await emu.suspend();
    try {
      await sleep(3_000);
      await page.evaluate(() => app().client.store.set('k1', 'offline'));
      await sleep(1_500);
      const { status, statuses, errors } = await page.evaluate(() => ({ status: app().client.sync.status, statuses: app().seen.statuses, errors: app().seen.errors }));
      expect(status).toBe('offline');
      expect(errors.filter((code) => code !== 'network')).toEqual([]);
      expect(statuses).not.toContain('error');
    } finally {
      await emu.resume();
    }
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    // The pull connects again after its backoff (the worse side wins: offline until then).
    await expect.poll(() => page.evaluate(() => app().client.sync.status), { timeout: 40_000, interval: 250 }).toBe('idle');
  }, 60_000);
});
