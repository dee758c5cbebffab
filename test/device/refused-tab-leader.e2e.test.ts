/**
 * `sync.leader` of a tab refused its replica (attack s23, "two accounts at once on one device"): the app gives every
 * account one fixed `local.name`; B's tab is refused (`forbidden`) while A's tab has that replica. B's tab never joined
 * the tabs' election and does not replicate: it must not say it leads — neither while A's tab leads nor after A's tab
 * closed — and it never serves A's data nor writes into B's database.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';

warnIfNoChromium('sync.leader of a refused tab');

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as feat from '/sdk.js';
self.start = async (options) => {
  const client = feat.createFeatClient(options);
  self.client = client;
  self.events = [];
  client.sync.on('error', () => undefined);
  client.store.watch({ prefix: '' }, (e) => self.events.push(e.key));
  await client.ready();
  return client.sync.leader;
};
self.settle = (call, ms) => Promise.race([
  call.then(() => 'ok', (e) => 'rejected ' + e.code),
  new Promise((resolve) => setTimeout(() => resolve('still waiting after ' + ms + ' ms'), ms)),
]);
self.app = () => self;
self.loaded = true;
</script>`;

interface PageApp {
  client: FeatClient;
  events: string[];
  start(options: Record<string, unknown>): Promise<boolean>;
  settle(call: Promise<unknown>, ms: number): Promise<string>;
}
const app = () => self as unknown as PageApp;

describe.skipIf(!hasChromium)('a tab refused its replica (Chromium, IndexedDB)', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  async function load(page: Page): Promise<void> {
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
  }
  async function serverKeys(user: string): Promise<string[]> {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    try {
      await c.ready();
      return (await c.store.keys()).sort();
    } finally {
      await c.close();
    }
  }

  it('one fixed local.name for every account: B\'s tab is refused `forbidden` and never says it leads, before or after A\'s tab closes', async () => {
    const [alice, bob] = [`lead-a-${run}`, `lead-b-${run}`];
    const context = await harness.newContext();
    const options = (user: string) => ({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { name: 'app-replica' } });
    const pa = await context.newPage();
    await load(pa);
    expect(await pa.evaluate((o) => app().start(o), options(alice))).toBe(true);
    await pa.evaluate(async () => {
      await app().client.store.set('a', 'A secret');
      await app().client.sync.waitForPush({ timeout: 20_000 });
    });
    const pb = await context.newPage();
    await load(pb);
    expect(await pb.evaluate((o) => app().settle(app().start(o), 20_000), options(bob))).toBe('rejected forbidden');
    expect(await pb.evaluate(() => app().settle(app().client.store.get('a'), 10_000))).toBe('rejected forbidden');
    await pa.evaluate(async () => {
      await app().client.store.set('a2', 'A more');
      await app().client.sync.waitForPush({ timeout: 20_000 });
    });
    const aLeads = await pa.evaluate(() => app().client.sync.leader);
    const bLeadsWhileA = await pb.evaluate(() => app().client.sync.leader);
    // A's tab closes: B's refused tab does not take over A's replica.
    await pa.close();
    await new Promise((r) => setTimeout(r, 2_000));
    const bLeadsAfter = await pb.evaluate(() => app().client.sync.leader);
    const bRead = await pb.evaluate(() => app().settle(app().client.store.get('a'), 10_000));
    expect({ aLeads, bLeadsWhileA, bLeadsAfter, bRead, bEvents: await pb.evaluate(() => app().events) }).toEqual({
      aLeads: true,
      bLeadsWhileA: false,
      bLeadsAfter: false,
      bRead: 'rejected forbidden',
      bEvents: [],
    });
    expect(await serverKeys(bob)).toEqual([]);
    expect(await serverKeys(alice)).toEqual(['a', 'a2']);
  }, 150_000);

  it('a tab on its own (no other tab, no refusal) leads', async () => {
    const context = await harness.newContext();
    const page = await context.newPage();
    await load(page);
    const user = `lead-solo-${run}`;
    expect(await page.evaluate((o) => app().start(o), { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) })).toBe(true);
    await page.close();
  }, 60_000);
});
