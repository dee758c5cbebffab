/**
 * An app with one `local.name` for every account: a replica holds one account's data, and another account's client
 * is refused (`forbidden`). A refused client that had a watch kept signing in by itself — its watch's feed and current
 * read call `ready()`, and retried with backoff — and once the owner logged out with destroyLocal it took the replica
 * over (a replica owned by the other account, a remembered session): the owner was then refused on their own device.
 * A refused client now stays refused until the app calls it again; the watch reports the refusal and waits. Real
 * Chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the refused-client browser tests');
/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App & { currentErrors: string[] };

describe.skipIf(!hasChromium)('a client refused another account’s replica, with a watch', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  /** The owner (tab A) signs in with `name` and writes; another account in tab B is refused, its watches running. */
  async function refusedNextToOwner(tag: string) {
    const [owner, other, name] = [`rc1-${tag}-${run}`, `rc2-${tag}-${run}`, `app-${tag}-${run}`];
    const ctx = await harness.newContext();
    const { page: a } = await openApp(ctx, harness.origin, emu, owner, undefined, { local: { name } });
    await a.evaluate(async () => {
      await app().client.store.set('k1', 'owner data');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const b = await load(ctx, harness.origin);
    const refused = await b.evaluate((o) => {
      const started = app().start(o);
      // A watch that reads the current value first (as the React hooks do).
      app().currentErrors = [];
      app().client.store.watch('k1', () => undefined, { initial: true, onError: (e) => app().currentErrors.push(e.code) });
      return app().settle(started, 30_000);
    }, { ...optionsFor(emu, other), local: { name } });
    expect(refused).toBe('rejected forbidden');
    return { ctx, a, b, owner, other, name };
  }

  const listed = (page: Page, name: string) => page.evaluate(async (n) => (await indexedDB.databases()).some((d) => d.name === `_pouch_${n}`), name);

  it.concurrent('after the owner’s logout({ destroyLocal: true }) it stays refused: no replica comes back, and the owner signs in again', async ({ expect }) => {
    const { ctx, a, b, owner, name } = await refusedNextToOwner('stay');
    expect(await a.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 30_000))).toBe('resolved ok');
    // Long enough for several of the watch's retries (backoff 0.5, 1, 2, 4, 8 s…).
    const seen: string[] = [];
    for (let t0 = Date.now(); Date.now() - t0 < 15_000; await new Promise((r) => setTimeout(r, 500))) {
      if (await listed(b, name)) seen.push('replica recreated');
      if (await b.evaluate(() => app().client.session !== undefined)) seen.push('refused client signed in');
      if (seen.length) break;
    }
    expect(seen).toEqual([]);
    // The watches reported the refusal, and no more than a couple of times (not once per retry).
    const reported = await b.evaluate(() => ({ error: app().seen.errors.filter((c) => c === 'forbidden').length, current: app().currentErrors.length }));
    expect(reported.error).toBeGreaterThanOrEqual(1);
    expect(reported.error).toBeLessThanOrEqual(2);
    expect(reported.current).toBeLessThanOrEqual(1);
    expect(await b.evaluate(() => app().client.sync.status)).toBe('denied');
    const again = await a.evaluate((o) => app().settle(app().start(o), 30_000), { ...optionsFor(emu, owner), local: { name } });
    expect(again).toBe('resolved value');
    expect(await a.evaluate(() => app().client.store.get('k1'))).toBe('owner data');
    await ctx.close();
  }, 120_000);

  it.concurrent('once the app calls ready() again (the owner gone), it signs in and its watches report changes', async ({ expect }) => {
    const { ctx, a, b } = await refusedNextToOwner('again');
    expect(await a.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 30_000))).toBe('resolved ok');
    expect(await b.evaluate(() => app().settle(app().client.ready(), 30_000))).toBe('resolved value');
    await b.evaluate(() => app().client.store.set('k2', 'mine now'));
    await expect
      .poll(() => b.evaluate(() => app().seen.events.filter((e) => e.key === 'k2').map((e) => `${e.origin} ${String(e.value)}`)), { timeout: 15_000 })
      .toEqual(['local mine now']);
    await ctx.close();
  }, 120_000);
});
