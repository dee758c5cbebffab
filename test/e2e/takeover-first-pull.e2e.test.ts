/**
 * A new device (fresh browser context) whose account has data: two tabs start at once, and the leader tab reloads or
 * closes in the middle of the first pull. The follower that takes over keeps waiting in ready() for the first complete
 * pull, within the same initialSyncTimeout (README "Session & bootstrap": a never-synced replica's ready() waits for
 * its first complete pull), so that an app reading a setting after ready() never writes its default over the user's.
 * Offline at the takeover, ready() still settles (with what is local), as the leader's does.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, optionsFor, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

warnIfNoChromium('the takeover-during-first-pull browser tests');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = 1500;
type Outcome = { outcome?: string | undefined; readyMs?: number | undefined; keysAtReady?: number | undefined };

describe.skipIf(!hasChromium)('a tab that takes over during the first pull of a new device', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  const device = (user: string) => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });

  /**
   * The account's data on the server: N values of ~2 kB (a first pull of a few seconds), and `settings`. Written straight
   * to the server (remote mode), as parts of one key (`k:0000`…), 300 in one request: a loaded machine takes a second or
   * two, where N writes pushed by a replica took up to a minute.
   */
  async function seed(user: string): Promise<void> {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    await c.ready();
    for (let from = 0; from < N; from += 300) {
      const parts: Record<string, { i: number; pad: string }> = {};
      for (let i = from; i < Math.min(N, from + 300); i++) parts[String(i).padStart(4, '0')] = { i, pad: 'x'.repeat(2000) };
      await c.store.setParts('k', parts);
    }
    await c.store.set('settings', { theme: 'dark' });
    await c.close();
  }

  /** Loads the app in a tab (or reloads `page`) and starts its client, not awaited: the outcome lands in self.outcome. */
  async function start(context: BrowserContext, user: string, page?: Page): Promise<Page> {
    const p = await load(context, harness.origin, page);
    await p.evaluate((o) => {
      const s = self as unknown as Outcome;
      const t0 = Date.now();
      void app().start(o).then(
        async () => {
          s.readyMs = Date.now() - t0;
          s.keysAtReady = (await app().client.store.keys()).length;
          s.outcome = 'ready';
        },
        (e: { code?: string }) => (s.outcome = `rejected ${e.code}`),
      );
    }, optionsFor(emu, user));
    return p;
  }
  const outcome = (p: Page) => p.evaluate(() => { const s = self as unknown as Outcome; return { outcome: s.outcome, readyMs: s.readyMs, keysAtReady: s.keysAtReady }; });
  async function settled(pages: Page[], ms: number): Promise<Outcome[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const results = await Promise.all(pages.map(outcome));
      if (results.every((r) => r.outcome !== undefined) || Date.now() > deadline) return results;
      await sleep(100);
    }
  }
  /** Two new tabs; after `delay` ms the leader's page is returned with the other. */
  async function twoTabs(user: string, delay: number): Promise<{ context: BrowserContext; leader: Page; other: Page }> {
    const context = await harness.newContext();
    const a = await start(context, user);
    const b = await start(context, user);
    await sleep(delay);
    const leaderA = await a.evaluate(() => app().client?.sync.leader);
    return leaderA ? { context, leader: a, other: b } : { context, leader: b, other: a };
  }

  for (const delay of [150, 300, 600])
    it(`the leader reloads ${delay} ms into the first pull: every ready() resolves in bounds, and reads then see everything`, async () => {
      const user = `tofp-${delay}-${run}`;
      await seed(user);
      const { leader, other } = await twoTabs(user, delay);
      await start(leader.context(), user, leader);
      const results = await settled([leader, other], 25_000);
      if (process.env.TOFP_DEBUG) console.log(delay, JSON.stringify(results));
      expect(results.map((r) => r.outcome)).toEqual(['ready', 'ready']);
      // Unless the 10 s initialSyncTimeout ran out (then ready() took that long), reads right after ready() see it all.
      for (const r of results) if (r.readyMs! < 9_500) expect(r, JSON.stringify(results)).toMatchObject({ keysAtReady: N + 1 });
    }, 120_000);

  it("the leader closes mid first pull: the app's default for a missing setting never overwrites the user's", async () => {
    const user = `tofp-settings-${run}`;
    await seed(user);
    const { leader, other } = await twoTabs(user, 300);
    // The app's usual start-up: after ready(), a missing setting gets its default.
    const written = other.evaluate(async () => {
      await app().client.ready();
      if ((await app().client.store.get('settings')) !== undefined) return 'found the setting';
      await app().client.store.set('settings', { theme: 'default' });
      return 'wrote the default';
    });
    await leader.close();
    const what = await written;
    await other.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    const d = device(user);
    await d.ready();
    const onServer = await d.store.get('settings');
    await d.close();
    const shown = await other.evaluate(() => app().client.store.get('settings'));
    expect({ what, shown, onServer }).toEqual({ what: 'found the setting', shown: { theme: 'dark' }, onServer: { theme: 'dark' } });
  }, 120_000);

  it('offline when it takes over: ready() still settles within initialSyncTimeout, with what is local, and catches up once online', async () => {
    const user = `tofp-offline-${run}`;
    await seed(user);
    const { context, leader, other } = await twoTabs(user, 300);
    await context.setOffline(true);
    await leader.close();
    const [result] = await settled([other], 15_000);
    expect(result!.outcome).toBe('ready');
    await context.setOffline(false);
    const deadline = Date.now() + 30_000;
    while ((await other.evaluate(() => app().client.store.keys())).length < N + 1 && Date.now() < deadline) await sleep(200);
    expect((await other.evaluate(() => app().client.store.keys())).length).toBe(N + 1);
  }, 120_000);
});
