/**
 * Several tabs, one sync (issue #18), in real Chromium: one browser context (one origin), several pages (tabs) with a
 * client each for the same user, synced through the emulator. The SDK is bundled by esbuild and served statically.
 *
 * - 3 tabs: one leader; the server sees about one tab's requests (±10 %); followers see every change through `watch`,
 *   follow the leader's status and `pending()`; writes from every tab reach a second device.
 * - The leader's page closes, or its renderer crashes: another tab takes over within 2 s; a write acknowledged just
 *   before is not lost.
 * - Without Web Locks (an old browser) every tab syncs on its own.
 * - `logout({ destroyLocal: true })` in one tab: the others report `closed` first, then the replica is deleted.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';

warnIfNoChromium('the several-tabs browser tests');

/** The page: the SDK as `self.feat`, and `tab()` (the page's global state, typed below) for the evaluated functions. */
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">import * as feat from '/sdk.js'; self.feat = feat; self.tab = () => self; self.loaded = true;</script>`;

/** What a tab's page keeps: its client and what it saw. */
interface TabState {
  client: FeatClient;
  seen: { statuses: string[]; errors: string[]; events: { key: string; value: unknown; origin: string }[] };
}
/** The same function as the page's global `tab` (functions given to page.evaluate call the page's). */
const tab = () => self as unknown as TabState & { feat: { createFeatClient: typeof createFeatClient } };

describe.skipIf(!hasChromium)('several tabs in Chromium', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);

  afterAll(() => harness?.stop());

  const newContext = () => harness.newContext();

  /** Opens a tab of the app in `context` and starts its client for `user`; resolves with `sync.leader`. */
  async function openTab(context: BrowserContext, user: string, options: { noLocks?: boolean } = {}): Promise<{ page: Page; leader: boolean }> {
    const page = await context.newPage();
    // TABS_DEBUG=1: the pages' console (PouchDB's own messages included).
    if (process.env.TABS_DEBUG) page.on('console', (m) => console.log(`[${user}] ${m.type()} ${m.text()}`));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    const leader = await page.evaluate(
      async ({ couchUrl, accountsUrl, auth, noLocks }) => {
        // An old browser: no Web Locks API.
        if (noLocks) Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
        const client = tab().feat.createFeatClient({ couchUrl, accountsUrl, auth });
        const seen: TabState['seen'] = { statuses: [], errors: [], events: [] };
        client.sync.on('status', (s) => seen.statuses.push(s));
        client.sync.on('error', (e) => seen.errors.push(e.code));
        client.store.watch({ prefix: 'k' }, (e) => seen.events.push({ key: e.key, value: e.value, origin: e.origin }));
        Object.assign(self, { client, seen });
        await client.ready();
        return client.sync.leader;
      },
      { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), noLocks: options.noLocks === true },
    );
    return { page, leader };
  }

  const leaderOf = (page: Page) => page.evaluate(() => tab().client.sync.leader);

  /**
   * Writes `key` in the tab, then waits (bounded) until that tab's `pending()` is 0: no request of its own. When it
   * does not get there, the failure says what the server has of the `k…` keys and what every open tab of the context
   * reports (leader, status, pending, errors), to tell a write never pushed from a push never confirmed.
   */
  async function writeAndSettle(page: Page, key: string, value: string, user?: string): Promise<void> {
    try {
      await page.evaluate(
        async ({ key, value }) => {
          const { client } = tab();
          await client.store.set(key, value);
          const deadline = Date.now() + 20_000;
          while ((await client.sync.pending()) > 0) {
            if (Date.now() > deadline) throw new Error(`pending() stayed ${await client.sync.pending()} (status ${client.sync.status}, leader ${client.sync.leader})`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        },
        { key, value },
      );
    } catch (error) {
      const tabs = await Promise.all(
        page
          .context()
          .pages()
          .filter((p) => !p.isClosed())
          .map((p) =>
            p
              .evaluate(async () => {
                const { client, seen } = tab();
                const pending = await Promise.race([client.sync.pending(), new Promise((resolve) => setTimeout(() => resolve('no answer'), 2_000))]);
                return { leader: client.sync.leader, status: client.sync.status, pending, errors: seen.errors, statuses: seen.statuses.slice(-8) };
              })
              .then((state) => ({ writer: p === page, ...state }), (e: unknown) => ({ writer: p === page, unreadable: String(e) })),
          ),
      );
      let server: unknown = 'not read (no user given)';
      if (user) {
        const remote = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
        try {
          const keys = await remote.store.keys('k');
          server = Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await remote.store.get(k)])));
        } catch (e) {
          server = `unreadable: ${String(e)}`;
        } finally {
          await remote.close();
        }
      }
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nwriting ${key}; on the server: ${JSON.stringify(server)}\ntabs: ${JSON.stringify(tabs)}`, { cause: error });
    }
  }

  /** The requests the emulator answered for `user`'s database from `since` on. */
  const dbRequests = (user: string, since: number) => {
    const db = `userdb-${Buffer.from(user).toString('hex')}`;
    return emu.requests.filter((r) => r.at >= since && r.path.includes(db)).length;
  };

  /** Runs the same workload (9 writes, round robin over `pages`) and counts the server's requests for it. */
  async function workload(user: string, pages: Page[], since: number): Promise<number> {
    for (let i = 0; i < 9; i++) await writeAndSettle(pages[i % pages.length]!, `k${i}`, `from tab ${i % pages.length}`, user);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    if (process.env.TABS_DEBUG) {
      // The requests by kind (method and endpoint).
      const db = `userdb-${Buffer.from(user).toString('hex')}`;
      const kinds: Record<string, number> = {};
      for (const r of emu.requests.filter((r) => r.at >= since && r.path.includes(db))) {
        const kind = `${r.method} ${r.path.replace(/.*userdb-[0-9a-f]+/, '').replace(/_local\/.*/, '_local/…').replace(/^\/k.*/, '/<doc>')}`;
        kinds[kind] = (kinds[kind] ?? 0) + 1;
      }
      console.log(user, kinds);
    }
    return dbRequests(user, since);
  }

  async function secondDevice(user: string, keys: string[]): Promise<Record<string, unknown>> {
    const device = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await device.ready();
      await expect.poll(async () => (await device.store.keys('k')).length, { timeout: 20_000 }).toBe(keys.length);
      return Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await device.store.get(k)])));
    } finally {
      await device.close();
    }
  }

  it('3 tabs: one leader, about one tab of requests, followers see every change and the leader sync; a second device gets every write', async () => {
    const stamp = Date.now().toString(36);
    // One tab alone: the reference.
    const alone = `alone-${stamp}`;
    const single = await openTab(await newContext(), alone);
    expect(single.leader).toBe(true);
    const since1 = Date.now();
    const oneTab = await workload(alone, [single.page], since1);

    // Three tabs of one origin (one context): the first leads, the others follow.
    const user = `tabs-${stamp}`;
    const context = await newContext();
    const first = await openTab(context, user);
    const since3 = Date.now();
    const second = await openTab(context, user);
    const third = await openTab(context, user);
    expect([first.leader, second.leader, third.leader]).toEqual([true, false, false]);
    const pages = [first.page, second.page, third.page];
    const threeTabs = await workload(user, pages, since3);
    console.log(`server requests for 9 writes: one tab ${oneTab}, three tabs ${threeTabs}`);
    expect(Math.abs(threeTabs - oneTab)).toBeLessThanOrEqual(Math.ceil(oneTab * 0.1));

    // Every tab saw every write through watch (the others' writes as 'remote'); the followers follow the leader's status.
    for (const [i, page] of pages.entries()) {
      const seen = await page.evaluate(() => tab().seen);
      expect(new Set(seen.events.map((e) => e.key))).toEqual(new Set(Array.from({ length: 9 }, (_, k) => `k${k}`)));
      for (const e of seen.events) expect(e.origin).toBe(e.value === `from tab ${i}` ? 'local' : 'remote');
      expect(seen.errors).toEqual([]);
      expect(await page.evaluate(() => tab().client.sync.status)).toBe('idle');
    }
    // A change from another device reaches the followers' watch too (pulled by the leader).
    const device = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await device.store.set('k-device', 'from the device');
      await device.sync.waitForPush({ timeout: 10_000 });
    } finally {
      await device.close();
    }
    for (const page of pages) {
      await expect
        .poll(() => page.evaluate(() => tab().seen.events.find((e) => e.key === 'k-device')), { timeout: 10_000 })
        .toEqual({ key: 'k-device', value: 'from the device', origin: 'remote' });
    }
    const got = await secondDevice(user, [...Array.from({ length: 9 }, (_, k) => `k${k}`), 'k-device']);
    expect(got.k4).toBe('from tab 1');
    expect(got.k8).toBe('from tab 2');
  }, 120_000);

  it.each(['closes', 'crashes'] as const)('the leader tab %s: another takes over within 2 s; a write acknowledged just before is not lost', async (how) => {
    const user = `takeover-${how}-${Date.now().toString(36)}`;
    const context = await newContext();
    const first = await openTab(context, user);
    const second = await openTab(context, user);
    const third = await openTab(context, user);
    expect([first.leader, second.leader, third.leader]).toEqual([true, false, false]);
    // Acknowledged (in the shared replica), maybe not yet pushed when the leader goes.
    await first.page.evaluate(() => tab().client.store.set('k-last', 'written by the leader'));
    const cdp = how === 'crashes' ? await context.newCDPSession(first.page) : undefined;
    const closedAt = Date.now();
    if (cdp) {
      // The renderer dies: Page.crash never answers; the page's crash event says it happened.
      const crashed = new Promise<boolean>((resolve) => {
        first.page.once('crash', () => resolve(true));
        setTimeout(() => resolve(false), 5_000);
      });
      void cdp.send('Page.crash').catch(() => undefined);
      expect(await crashed).toBe(true);
    } else await first.page.close();
    let tookOver = Infinity;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const leaders = await Promise.all([leaderOf(second.page), leaderOf(third.page)]);
      if (leaders.includes(true)) {
        tookOver = Date.now() - closedAt;
        expect(leaders.filter(Boolean)).toHaveLength(1);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.log(`takeover after the leader's page ${how === 'crashes' ? 'crashed' : 'closed'}: ${tookOver} ms`);
    expect(tookOver).toBeLessThan(2_000);
    // Both remaining tabs write; everything reaches another device.
    await writeAndSettle(second.page, 'k-second', 'from tab 2', user);
    await writeAndSettle(third.page, 'k-third', 'from tab 3', user);
    const got = await secondDevice(user, ['k-last', 'k-second', 'k-third']);
    expect(got).toEqual({ 'k-last': 'written by the leader', 'k-second': 'from tab 2', 'k-third': 'from tab 3' });
  }, 60_000);

  it('without Web Locks every tab syncs on its own, as before', async () => {
    const user = `nolocks-${Date.now().toString(36)}`;
    const since = Date.now();
    const context = await newContext();
    const tabs = [await openTab(context, user, { noLocks: true }), await openTab(context, user, { noLocks: true })];
    expect(tabs.map((t) => t.leader)).toEqual([true, true]);
    await writeAndSettle(tabs[0]!.page, 'k1', 'from tab 0');
    await expect.poll(() => tabs[1]!.page.evaluate(() => tab().client.store.get('k1')), { timeout: 10_000 }).toBe('from tab 0');
    expect(await secondDevice(user, ['k1'])).toEqual({ k1: 'from tab 0' });
    // Both tabs replicate: each holds its own live pull stream (a leader alone: one). The server logs a stream when it
    // ends: the tabs are closed, and the streams that lasted are counted.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await context.close();
    const hex = Buffer.from(user).toString('hex');
    const streams = () => emu.requests.filter((r) => r.at >= since && r.path.endsWith('/_changes') && r.path.includes(hex) && r.durationMs >= 1_000).length;
    await expect.poll(streams, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('logout({ destroyLocal: true }) in one tab closes the others first (they report closed), then deletes the replica', async () => {
    const user = `logout-${Date.now().toString(36)}`;
    const context = await newContext();
    const first = await openTab(context, user);
    const second = await openTab(context, user);
    await writeAndSettle(second.page, 'k1', 'kept on the server');
    const replica = `_pouch_feat-userdb-${Buffer.from(user).toString('hex')}`;
    const databases = (page: Page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    expect(await databases(first.page)).toContain(replica);
    // A query's indexes (in the `idb` adapter, databases of their own named `…-mrview-…`) go with the replica.
    expect(await second.page.evaluate(async () => (await tab().client.store.find({ selector: {} })).length)).toBe(1);

    await second.page.evaluate(() => tab().client.logout({ destroyLocal: true }));
    const after = await first.page.evaluate(async () => {
      const { client, seen } = tab();
      const read = await client.store.get('k1').then(
        () => 'read',
        (e: { code: string }) => e.code,
      );
      return { errors: seen.errors, read, status: client.sync.status };
    });
    expect(after).toEqual({ errors: ['closed'], read: 'closed', status: 'paused' });
    expect((await databases(first.page)).filter((name) => name?.startsWith(replica))).toEqual([]);
  }, 60_000);
});
