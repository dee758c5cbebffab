/**
 * A new device in Chromium whose accounts service answers but whose CouchDB cannot be reached (API.md: a never-synced
 * replica, "offline → resolves with what is local"; README "Starting offline"): ready() resolves with the account the
 * token names, the writes land in the IndexedDB replica, a reload with no server at all opens that replica again (the
 * session is remembered under the identity), and the writes reach the server once it answers. Before, ready() rejected
 * `network` and nothing could be written.
 */
import { describe, expect, it } from 'vitest';
import { hasChromium, useHarness, warnIfNoChromium } from '../support/chromium-harness.js';
import { APP_PAGE, load, optionsFor, readOnServer, type App } from '../attack/browser-page.js';

warnIfNoChromium('the new-device-offline browser test');
const app = () => self as unknown as App;

describe.skipIf(!hasChromium)('a new device, CouchDB out of reach, in Chromium', () => {
  const h = useHarness({ '/': ['text/html', APP_PAGE] });

  it('opens an empty replica for the token’s account, keeps the writes across a reload with no server, pushes them later', async () => {
    const user = `newdev-off-${Date.now().toString(36)}`;
    const ctx = await h.harness.newContext();
    try {
      const toCouch = (url: URL) => url.href.startsWith(h.emu.couchUrl);
      await ctx.route(toCouch, (route) => route.abort('internetdisconnected'));
      const options = { ...optionsFor(h.emu, user), initialSyncTimeout: 1_500 };
      const page = await load(ctx, h.origin);
      const first = await page.evaluate(async (o) => {
        const t0 = performance.now();
        const { session } = await app().start(o);
        await app().client.store.set('draft', 'typed offline on a new device');
        return { session, ms: performance.now() - t0, status: app().client.sync.status, pending: await app().client.sync.pending() };
      }, options);
      expect(first.session.userName).toBe(user);
      expect(first.status).toBe('offline');
      expect(first.pending).toBe(1);
      expect(first.ms).toBeLessThan(12_000);
      await page.evaluate(() => app().client.close());

      // A reload with no server at all (accounts service too): the remembered session opens the same replica.
      await h.emu.suspend();
      try {
        await load(ctx, h.origin, page);
        const again = await page.evaluate(async (o) => {
          const { session } = await app().start(o);
          return { user: session.userName, draft: await app().client.store.get('draft') };
        }, options);
        expect(again).toEqual({ user, draft: 'typed offline on a new device' });
      } finally {
        await h.emu.resume();
      }
      await ctx.unroute(toCouch);
      await page.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
      expect(await readOnServer(h.emu, user, ['draft'])).toEqual({ draft: 'typed offline on a new device' });
    } finally {
      await ctx.close();
    }
  }, 90_000);
});
