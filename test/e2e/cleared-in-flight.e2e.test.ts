/**
 * A waitForPush() under way when the site's data is cleared (README "The site's data cleared under a running app":
 * every call rejects with storage_lost once the loss is noticed; "Nothing hangs"). It never settled: its read of the
 * replica's changes was a transaction the clear aborted, which the IndexedDB adapter never answers (8 of 8 runs).
 * Calls under way on the replica are now ended with the loss (device-storage.ts `#inFlight`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the waitForPush-under-a-clear browser test');
/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App & { wfp?: Promise<{ o: string; ms: number }> };
const RUNS = 3;

describe.skipIf(!hasChromium)('waitForPush() under way when the site data is cleared', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  it('a waitForPush() (no timeout) pending at the clear settles with storage_lost, not a wait without end', async () => {
    const results: { delay: number; waitForPush: string; ms: number; errors: string[]; status: string; get: string }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const user = `wfp-cleared-${run}-${i}`;
      const delay = Math.floor(Math.random() * 150);
      const ctx = await harness.newContext();
      const page = await load(ctx, origin);
      await page.evaluate((o) => app().start(o), optionsFor(emu, user));
      await page.evaluate(async () => {
        const c = app().client;
        await Promise.all(Array.from({ length: 200 }, (_, j) => c.store.set(`w${j}`, { j, pad: 'x'.repeat(500) })));
        const t0 = performance.now();
        app().wfp = app().settle(c.sync.waitForPush(), 20_000).then((o: string) => ({ o, ms: Math.round(performance.now() - t0) }));
      });
      await page.waitForTimeout(delay);
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb,local_storage' });
      const r = await page.evaluate(async () => {
        const { o, ms } = (await app().wfp)!;
        return { waitForPush: o, ms, errors: [...app().seen.errors], status: app().client.sync.status, get: await app().settle(app().client.store.get('w1'), 10_000) };
      });
      results.push({ delay, ...r });
      await ctx.close();
    }
    // The push may have finished before the clear: then waitForPush resolves, which is right.
    const bad = results.filter((r) => !(r.waitForPush === 'resolved value' || r.waitForPush === 'rejected storage_lost'));
    expect(bad).toEqual([]);
  }, 150_000);
});
