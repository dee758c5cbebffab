/**
 * A new device's first pull in real Chromium, with several tabs, while the network misbehaves (context.route on the
 * CouchDB requests, context.setOffline): every tab's ready() sees the user's data; followers report their wait
 * (`initialSync` start … done) as the leader does (they sent nothing); the `online` event makes a retrying first pull
 * try again at once (it slept through its backoff); a takeover mid-retry completes the pull.
 */
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the first-pull tabs tests');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = 300;

/** What a tab records (page side). */
interface Rec {
  t0: number;
  events: { phase: string; complete: boolean; docs: number; at: number }[];
  statuses: { s: string; at: number }[];
  errors: string[];
  outcome?: string;
  readyMs?: number;
  settingsAtReady?: unknown;
  keysAtReady?: number;
  earlyGet?: unknown;
}
type PageSelf = App & { rec: Rec; boot(o: Record<string, unknown>): void };

describe.skipIf(!hasChromium)("a new device's first pull in Chromium tabs", () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  const device = (user: string) => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });

  async function seed(user: string): Promise<void> {
    const c = device(user);
    await c.ready();
    await Promise.all(Array.from({ length: N }, (_, i) => c.store.set(`k${String(i).padStart(4, '0')}`, { i, pad: 'x'.repeat(500) })));
    await c.store.set('settings', { theme: 'dark' });
    await c.sync.waitForPush({ timeout: 60_000 });
    await c.close();
  }

  /** Opens a tab, starts its client (not awaited); `early`: a store.get('settings') issued before ready() resolves. */
  async function start(context: BrowserContext, user: string, extra: Record<string, unknown> = {}, page?: Page, before?: () => Promise<void>): Promise<Page> {
    const p = await load(context, harness.origin, page);
    await before?.();
    await p.evaluate((o) => {
      const s = self as unknown as PageSelf;
      const rec: Rec = { t0: Date.now(), events: [], statuses: [], errors: [] };
      s.rec = rec;
      const client = s.feat.createFeatClient(o as never);
      s.client = client;
      client.sync.on('initialSync', (e) => rec.events.push({ phase: e.phase, complete: e.complete, docs: e.docs, at: Date.now() - rec.t0 }));
      client.sync.on('status', (st) => rec.statuses.push({ s: st, at: Date.now() - rec.t0 }));
      client.sync.on('error', (e) => rec.errors.push(e.code));
      void client.store.get('settings').then((v) => (rec.earlyGet = v ?? 'ABSENT'), (e: { code?: string }) => (rec.earlyGet = `rejected ${e.code}`));
      void client.ready().then(
        async () => {
          rec.readyMs = Date.now() - rec.t0;
          rec.settingsAtReady = (await client.store.get('settings')) ?? 'ABSENT';
          rec.keysAtReady = (await client.store.keys()).length;
          rec.outcome = 'ready';
        },
        (e: { code?: string }) => {
          rec.readyMs = Date.now() - rec.t0;
          rec.outcome = `rejected ${e.code}`;
        },
      );
    }, { ...optionsFor(emu, user), ...extra });
    return p;
  }
  const rec = (p: Page) => p.evaluate(() => JSON.parse(JSON.stringify((self as unknown as PageSelf).rec)) as Rec);
  async function settled(pages: Page[], ms: number): Promise<Rec[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const results = await Promise.all(pages.map(rec));
      if (results.every((r) => r.outcome !== undefined && r.earlyGet !== undefined) || Date.now() > deadline) return results;
      await sleep(100);
    }
  }
  const leaderOf = async (pages: Page[]) => {
    for (const p of pages) if (await p.evaluate(() => (self as unknown as PageSelf).client.sync.leader)) return p;
    return undefined;
  };

  /** Fails the CouchDB `_changes` requests of `context` with `how` until `until()` says stop. */
  async function breakChanges(context: BrowserContext, how: 'reset' | '503' | 'portal', stop: () => boolean): Promise<{ count: () => number }> {
    let n = 0;
    await context.route(/\/_changes(\?|$)/, async (route: Route) => {
      if (stop()) return route.continue();
      n++;
      if (how === 'reset') return route.abort('connectionreset');
      if (how === '503') return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'service_unavailable', reason: 'busy' }) });
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<html><title>Wi-Fi login</title></html>' });
    });
    return { count: () => n };
  }

  for (const how of ['reset', '503', 'portal'] as const)
    it(`three tabs of a new device, the first pull meets ${how} for 3 s: every tab's ready() sees the user's data, honest initialSync`, async () => {
      const user = `nd-${how}-${run}`;
      await seed(user);
      const context = await harness.newContext();
      const t0 = Date.now();
      const faults = await breakChanges(context, how, () => Date.now() - t0 > 3_000);
      const a = await start(context, user, { initialSyncTimeout: 20_000 });
      await sleep(400);
      const b = await start(context, user, { initialSyncTimeout: 20_000 });
      const c = await start(context, user, { initialSyncTimeout: 20_000 });
      const results = await settled([a, b, c], 40_000);
      const summary = JSON.stringify({ faults: faults.count(), results }, null, 1);
      expect(faults.count(), summary).toBeGreaterThan(0);
      for (const r of results) {
        expect(r.outcome, summary).toBe('ready');
        expect(r.earlyGet, summary).toEqual({ theme: 'dark' });
        expect(r.settingsAtReady, summary).toEqual({ theme: 'dark' });
        expect(r.keysAtReady, summary).toBe(N + 1);
        expect(r.errors, summary).toEqual([]);
      }
      // The leader says start … done complete:true.
      const leader = await leaderOf([a, b, c]);
      const lr = await rec(leader!);
      const phases = lr.events.map((e) => e.phase).filter((p) => p !== 'progress');
      expect(phases, summary).toEqual(['start', 'done']);
      expect(lr.events.at(-1)!.complete, summary).toBe(true);
      await context.close();
    }, 120_000);

  it('followers of a new device report their wait for the first pull (initialSync start … done), as the leader does', async () => {
    const user = `nd-fev-${run}`;
    await seed(user);
    const context = await harness.newContext();
    const t0 = Date.now();
    await breakChanges(context, '503', () => Date.now() - t0 > 3_000);
    const a = await start(context, user, { initialSyncTimeout: 20_000 });
    await sleep(400);
    const b = await start(context, user, { initialSyncTimeout: 20_000 });
    const results = await settled([a, b], 40_000);
    const summary = JSON.stringify(results, null, 1);
    for (const r of results) {
      expect(r.outcome, summary).toBe('ready');
      // A tab that waited seconds in ready() for the first pull: the app's "Downloading your data…" needs the events.
      expect(r.readyMs! > 1_500, summary).toBe(true);
      expect(r.events.map((e) => e.phase).filter((p) => p !== 'progress'), summary).toEqual(['start', 'done']);
      expect(r.events.at(-1)!.complete, summary).toBe(true);
    }
    await context.close();
  }, 120_000);

  it('the leader closes while its first pull is retrying: a follower takes over and completes the pull within the deadline', async () => {
    const user = `nd-take-${run}`;
    await seed(user);
    const context = await harness.newContext();
    let failing = true;
    await breakChanges(context, '503', () => !failing);
    const a = await start(context, user, { initialSyncTimeout: 20_000 });
    await sleep(400);
    const b = await start(context, user, { initialSyncTimeout: 20_000 });
    const c = await start(context, user, { initialSyncTimeout: 20_000 });
    await sleep(2_000);
    const leader = (await leaderOf([a, b, c]))!;
    const others = [a, b, c].filter((p) => p !== leader);
    await leader.close();
    await sleep(1_000);
    failing = false;
    const results = await settled(others, 40_000);
    const summary = JSON.stringify(results, null, 1);
    for (const r of results) {
      expect(r.outcome, summary).toBe('ready');
      expect(r.readyMs!, summary).toBeLessThan(20_000);
      expect(r.settingsAtReady, summary).toEqual({ theme: 'dark' });
      expect(r.keysAtReady, summary).toBe(N + 1);
    }
    await context.close();
  }, 120_000);

  it('the leader crashes while its first pull is retrying: a follower takes over and completes the pull', async () => {
    const user = `nd-crash-${run}`;
    await seed(user);
    const context = await harness.newContext();
    let failing = true;
    await breakChanges(context, 'reset', () => !failing);
    const a = await start(context, user, { initialSyncTimeout: 20_000 });
    await sleep(400);
    const b = await start(context, user, { initialSyncTimeout: 20_000 });
    await sleep(2_000);
    const leader = (await leaderOf([a, b]))!;
    const other = leader === a ? b : a;
    await leader.goto('chrome://crash').catch(() => undefined);
    await sleep(500);
    failing = false;
    const [r] = await settled([other], 40_000);
    const summary = JSON.stringify(r, null, 1);
    expect(r!.outcome, summary).toBe('ready');
    expect(r!.settingsAtReady, summary).toEqual({ theme: 'dark' });
    expect(r!.keysAtReady, summary).toBe(N + 1);
    await context.close();
  }, 120_000);

  /** Leaves a remembered replica of `user` that never completed its first pull (its `_changes` always failed). */
  async function unsyncedReplica(context: BrowserContext, user: string): Promise<void> {
    const handler = (route: Route) => route.abort('connectionreset');
    await context.route(/\/_changes(\?|$)/, handler);
    const p = await start(context, user, { initialSyncTimeout: 1_000 });
    const [r] = await settled([p], 20_000);
    expect(r!.events.at(-1), JSON.stringify(r)).toMatchObject({ phase: 'done', complete: false });
    await p.evaluate(() => (self as unknown as PageSelf).client.close());
    await p.close();
    await context.unroute(/\/_changes(\?|$)/, handler);
  }

  it('offline at start (a replica whose first pull never completed), online after 3 s: the online event connects at once', async () => {
    const user = `nd-off-${run}`;
    await seed(user);
    const context = await harness.newContext();
    await unsyncedReplica(context, user);
    const changes: number[] = [];
    context.on('request', (r) => void (/_changes/.test(r.url()) && changes.push(Date.now())));
    const p = await start(context, user, { initialSyncTimeout: 30_000 }, undefined, () => context.setOffline(true));
    await sleep(3_000);
    const online = Date.now();
    await context.setOffline(false);
    const [r] = await settled([p], 40_000);
    const after = Date.now() - online;
    const summary = JSON.stringify({ after, changes: changes.map((t) => t - online), r }, null, 1);
    expect(r!.outcome, summary).toBe('ready');
    expect(r!.settingsAtReady, summary).toEqual({ theme: 'dark' });
    expect(r!.events.map((e) => e.phase).filter((x) => x !== 'progress'), summary).toEqual(['start', 'done']);
    expect(r!.events.at(-1)!.complete, summary).toBe(true);
    // The pull starts right after the online event; the pull itself (301 documents) takes what the machine gives it.
    const pull = changes.find((t) => t >= online);
    expect(pull, summary).toBeDefined();
    expect(pull! - online, summary).toBeLessThan(1_500);
    expect(after, summary).toBeLessThan(20_000);
    await context.close();
  }, 120_000);

  it('the network drops during the first pull and is back 9 s later: the online event makes the first pull try again at once', async () => {
    const user = `nd-offpull-${run}`;
    await seed(user);
    const context = await harness.newContext();
    let firstFail = 0;
    await context.route(/\/_changes(\?|$)/, async (route) => {
      if (!firstFail) {
        firstFail = Date.now();
        await context.setOffline(true);
        return route.abort('internetdisconnected');
      }
      return route.continue();
    });
    const changes: number[] = [];
    context.on('request', (r) => void (/_changes/.test(r.url()) && changes.push(Date.now())));
    context.on('requestfailed', (r) => void (/_changes/.test(r.url()) && changes.push(-Date.now())));
    const p = await start(context, user, { initialSyncTimeout: 40_000 });
    while (!firstFail) await sleep(50);
    await sleep(9_500 - (Date.now() - firstFail));
    const online = Date.now();
    await context.setOffline(false);
    const [r] = await settled([p], 45_000);
    const after = Date.now() - online;
    const summary = JSON.stringify({ after, changes: changes.map((t) => (t < 0 ? 'failed ' : '') + (Math.abs(t) - online)), r }, null, 1);
    expect(r!.outcome, summary).toBe('ready');
    expect(r!.settingsAtReady, summary).toEqual({ theme: 'dark' });
    // The pull tries again at once (its backoff slept through the 9 s): its request right after the online event. The
    // pull itself (301 documents) takes what the machine gives it.
    const retry = changes.find((t) => t >= online);
    expect(retry, summary).toBeDefined();
    expect(retry! - online, summary).toBeLessThan(1_500);
    expect(after, summary).toBeLessThan(20_000);
    await context.close();
  }, 120_000);

  it('a device that synced before opens offline at once (< 1 s)', async () => {
    const user = `nd-synced-${run}`;
    await seed(user);
    const context = await harness.newContext();
    const first = await start(context, user);
    const [r1] = await settled([first], 30_000);
    expect(r1!.events.at(-1)).toMatchObject({ phase: 'done', complete: true });
    await first.evaluate(() => (self as unknown as PageSelf).client.close());
    await first.close();
    const p = await start(context, user, { initialSyncTimeout: 30_000 }, undefined, () => context.setOffline(true));
    const [r] = await settled([p], 10_000);
    const summary = JSON.stringify(r, null, 1);
    expect(r!.outcome, summary).toBe('ready');
    expect(r!.readyMs!, summary).toBeLessThan(1_000);
    expect(r!.settingsAtReady, summary).toEqual({ theme: 'dark' });
    expect(r!.events, summary).toEqual([]);
    await context.close();
  }, 120_000);

  it('ready({ signal }) aborted during the wait, then ready() again: the data, one start and one done', async () => {
    const user = `nd-sig-${run}`;
    await seed(user);
    const context = await harness.newContext();
    const t0 = Date.now();
    await breakChanges(context, '503', () => Date.now() - t0 > 4_000);
    const p = await load(context, harness.origin);
    const out = await p.evaluate(async (o) => {
      const s = self as unknown as PageSelf;
      const client = s.feat.createFeatClient(o as never);
      s.client = client;
      const events: string[] = [];
      client.sync.on('initialSync', (e) => events.push(`${e.phase}${e.phase === 'done' ? ':' + e.complete : ''}`));
      const ac = new AbortController();
      const first = client.ready({ signal: ac.signal }).then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`);
      await new Promise((r) => setTimeout(r, 1_000));
      ac.abort();
      const firstOutcome = await first;
      const statusAfterAbort = client.sync.status;
      const t = Date.now();
      await client.ready();
      const settings = (await client.store.get('settings')) ?? 'ABSENT';
      return { firstOutcome, statusAfterAbort, secondMs: Date.now() - t, settings, events: events.filter((e) => e !== 'progress') };
    }, { ...optionsFor(emu, user), initialSyncTimeout: 20_000 });
    expect(out).toMatchObject({ firstOutcome: 'rejected aborted', settings: { theme: 'dark' }, events: ['start', 'done:true'] });
    await context.close();
  }, 120_000);

  it('logout({ destroyLocal: true }) during the wait: bounded, ready() rejects closed, the replica is gone, nothing sent after', async () => {
    const user = `nd-logout-${run}`;
    await seed(user);
    const context = await harness.newContext();
    await breakChanges(context, '503', () => false);
    const sent: { url: string; at: number }[] = [];
    context.on('request', (r) => sent.push({ url: r.url(), at: Date.now() }));
    const p = await start(context, user, { initialSyncTimeout: 60_000 });
    await sleep(2_000);
    const out = await p.evaluate(async () => {
      const s = self as unknown as PageSelf;
      const t = Date.now();
      const logout = await s.client.logout({ destroyLocal: true }).then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`);
      return { logout, ms: Date.now() - t, dbs: (await indexedDB.databases()).map((d) => d.name) };
    });
    const ended = Date.now();
    await sleep(3_000);
    const [r] = await settled([p], 5_000);
    const late = sent.filter((x) => x.at > ended && !x.url.endsWith('/sdk.js') && x.url !== harness.origin + '/');
    const summary = JSON.stringify({ out, r, late }, null, 1);
    expect(out.logout, summary).toBe('resolved');
    expect(out.ms, summary).toBeLessThan(6_000);
    expect(r!.outcome, summary).toBe('rejected closed');
    expect(out.dbs.filter((n) => n !== '_pouch_feat-sessions'), summary).toEqual([]);
    expect(late, summary).toEqual([]);
    const phases = r!.events.map((e) => e.phase).filter((x) => x !== 'progress');
    expect(phases, summary).toEqual(['start', 'done']);
    await context.close();
  }, 120_000);

  it('close() while the connection of an unsynced replica is retried: ready() settles, nothing is sent after', async () => {
    const user = `nd-close-${run}`;
    await seed(user);
    const context = await harness.newContext();
    await unsyncedReplica(context, user);
    const couch = new URL(emu.couchUrl).origin;
    const sent: { url: string; at: number }[] = [];
    await context.route((u) => u.origin === couch, (route) => route.abort('connectionreset'));
    context.on('request', (r) => sent.push({ url: r.url(), at: Date.now() }));
    const p = await start(context, user, { initialSyncTimeout: 60_000 });
    await sleep(3_000);
    const ms = await p.evaluate(async () => {
      const t = Date.now();
      await (self as unknown as PageSelf).client.close();
      return Date.now() - t;
    });
    const ended = Date.now();
    await sleep(3_000);
    const [r] = await settled([p], 5_000);
    const late = sent.filter((x) => x.at > ended && x.url.startsWith(couch));
    const summary = JSON.stringify({ ms, r, late: late.length, n: sent.length }, null, 1);
    expect(ms, summary).toBeLessThan(5_000);
    expect(['ready', 'rejected closed'], summary).toContain(r!.outcome);
    expect(late, summary).toEqual([]);
    expect(r!.events.map((e) => e.phase).filter((x) => x !== 'progress'), summary).toEqual(['start', 'done']);
    await context.close();
  }, 120_000);
});
