/**
 * Two tabs of one user in Chromium, one writing:
 * - the `pending` event of the tab that did not write kept its old count (0 while the server was down and three
 *   writes waited; `pending()` said 3): a tab recounted only on its own writes and the leader's "pushed" message.
 *   Every tab now recounts on the other tabs' writes to the shared replica (their BroadcastChannel announcement).
 * - a follower's `waitForPush()` while the leader tab kept writing (no pause between writes) never resolved
 *   (`timeout`, "not found there yet: lp-5, …"; its own write was on the server): the keys the leader wrote on since
 *   the call are asked about on the server, and a follower had no server to ask, so they counted as missing for as
 *   long as the leader wrote. A follower now asks the server itself (the session it was opened for).
 * The review of the first fix: the leader's pulled batches are announced too, and a follower counted them as
 * unsaved (it learns of them from the leader's confirmation): replication's writes are announced as such and not
 * counted; and close() closes the channel it listened on.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { createFeatClient } from '@feat/sdk';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

const app = () => self as unknown as App;

warnIfNoChromium('tabs-pending-and-wait');

describe.skipIf(!hasChromium)('two tabs, one writing', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `tpw-${what}-${run}-${n++}`;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  async function twoTabs(context: BrowserContext, user: string): Promise<[Page, Page]> {
    const leader = (await openApp(context, origin, emu, user)).page;
    const follower = (await openApp(context, origin, emu, user)).page;
    expect(await leader.evaluate(() => app().client.sync.leader)).toBe(true);
    expect(await follower.evaluate(() => app().client.sync.leader)).toBe(false);
    await Promise.all([leader, follower].map((p) => p.evaluate(() => app().settled(20_000))));
    return [leader, follower];
  }
  const lastPendingEvent = (page: Page) => page.evaluate(() => app().seen.pending.at(-1));

  it.each(['leader', 'follower'] as const)('server down, the %s writes three values: the other tab\'s `pending` event says 3, then 0 once they are pushed', async (writer) => {
    const context = await harness.newContext();
    const [leader, follower] = await twoTabs(context, userFor(`pending-${writer}`));
    const [w, other] = writer === 'leader' ? [leader, follower] : [follower, leader];
    await emu.suspend();
    try {
      await w.evaluate(async () => {
        for (let j = 0; j < 3; j++) await app().client.store.set(`pe-${j}`, j);
      });
      expect(await other.evaluate(() => app().client.sync.pending())).toBe(3);
      await expect.poll(() => lastPendingEvent(other), { timeout: 10_000, interval: 100 }).toBe(3);
      await expect.poll(() => lastPendingEvent(w), { timeout: 10_000, interval: 100 }).toBe(3);
    } finally {
      await emu.resume();
    }
    await expect.poll(() => lastPendingEvent(other), { timeout: 30_000, interval: 200 }).toBe(0);
    await expect.poll(() => lastPendingEvent(w), { timeout: 30_000, interval: 200 }).toBe(0);
    await context.close();
  }, 90_000);

  it.each(['leader', 'follower'] as const)('the %s keeps writing 50 keys with no pause: the other tab\'s set + waitForPush() resolves meanwhile', async (looper) => {
    const user = userFor(`loop-${looper}`);
    const context = await harness.newContext();
    const [leader, follower] = await twoTabs(context, user);
    const [loop, other] = looper === 'leader' ? [leader, follower] : [follower, leader];
    await loop.evaluate(() => {
      const st = self as unknown as { halt?: boolean };
      void (async () => {
        for (let i = 0; !st.halt; i++) await app().client.store.set(`lp-${i % 50}`, i).catch(() => undefined);
      })();
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const during = await other.evaluate(async () => {
      await app().client.store.set('lp-other', 'O');
      return app().settle(app().client.sync.waitForPush({ timeout: 20_000 }), 25_000);
    });
    await loop.evaluate(() => void ((self as unknown as { halt: boolean }).halt = true));
    expect(during).toBe('resolved value');
    const remote = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    try {
      expect(await remote.store.get('lp-other')).toBe('O');
    } finally {
      await remote.close();
    }
    await context.close();
  }, 90_000);

  it('no tab wrote, another device wrote 300 values: neither tab\'s `pending` event ever says more than 0', async () => {
    const user = userFor('pulled');
    const context = await harness.newContext();
    const [leader, follower] = await twoTabs(context, user);
    const other = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 60 }, (_, i) => other.store.set(`o-${round}-${i}`, { round, i })));
        await new Promise((r) => setTimeout(r, 300));
      }
      await expect.poll(() => leader.evaluate(() => app().client.store.get('o-4-59')), { timeout: 20_000 }).toEqual({ round: 4, i: 59 });
      await new Promise((r) => setTimeout(r, 2_000));
      const seen = async (p: Page) => Math.max(0, ...(await p.evaluate(() => app().seen.pending)));
      expect({ leader: await seen(leader), follower: await seen(follower) }).toEqual({ leader: 0, follower: 0 });
    } finally {
      await other.close();
      await context.close();
    }
  }, 90_000);

  it('the follower writes while the leader pulls another device\'s 300 values: its `pending` event counts its own writes only', async () => {
    const user = userFor('pulled-busy');
    const context = await harness.newContext();
    const [leader, follower] = await twoTabs(context, user);
    const other = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    try {
      for (let round = 0; round < 5; round++) {
        const batch = Promise.all(Array.from({ length: 60 }, (_, i) => other.store.set(`o-${round}-${i}`, { round, i })));
        // While the leader pulls, the follower writes (each write makes it count again).
        for (let j = 0; j < 6; j++) {
          await follower.evaluate((k) => app().client.store.set(k, 1), `mine-${round}-${j}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        await batch;
      }
      await expect.poll(() => leader.evaluate(() => app().client.store.get('o-4-59')), { timeout: 20_000 }).toEqual({ round: 4, i: 59 });
      await follower.evaluate(() => app().settled(20_000));
      // At most its own 30 writes were ever unsaved; never the pulled ones.
      expect(Math.max(0, ...(await follower.evaluate(() => app().seen.pending)))).toBeLessThanOrEqual(30);
      await expect.poll(() => lastPendingEvent(follower), { timeout: 20_000, interval: 200 }).toBe(0);
    } finally {
      await other.close();
      await context.close();
    }
  }, 120_000);

  it('close() of a client with a `pending` listener leaves no BroadcastChannel of the replica open', async () => {
    const context = await harness.newContext();
    const page = await load(context, origin);
    await page.evaluate(() => {
      const Native = BroadcastChannel;
      const made: { name: string; closed: boolean }[] = [];
      (self as unknown as { channels: typeof made }).channels = made;
      self.BroadcastChannel = class extends Native {
        #rec: { name: string; closed: boolean };
        constructor(name: string) {
          super(name);
          this.#rec = { name, closed: false };
          made.push(this.#rec);
        }
        override close(): void {
          this.#rec.closed = true;
          super.close();
        }
      } as typeof BroadcastChannel;
    });
    await page.evaluate((options) => app().start(options), optionsFor(emu, userFor('channel')));
    await page.evaluate(async () => {
      await app().client.store.set('a', 1);
      await app().client.sync.waitForPush({ timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 500));
    });
    const channels = () => page.evaluate(() => (self as unknown as { channels: { name: string; closed: boolean }[] }).channels.filter((c) => c.name.startsWith('feat-writes:')));
    // The replica's own announcer and the pending count's listener.
    expect((await channels()).length).toBeGreaterThanOrEqual(2);
    await page.evaluate(() => app().client.close());
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await channels()).filter((c) => !c.closed)).toEqual([]);
    await context.close();
  }, 60_000);
});
