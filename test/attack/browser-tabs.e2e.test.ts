/**
 * Black-box attack, in real Chromium, on several tabs of one user (README "Several tabs"): what test/e2e/tabs.e2e.test.ts
 * does not cover — concurrent writes of one key, watch order across tabs, a follower writing while the leader pushes,
 * the leader reloading mid-write, pending()/status across tabs offline, a tab opened offline, close()/logout() in one tab
 * while another writes. Every expectation cites the README line it comes from.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, readOnServer, until, type App } from './browser-page.js';
import { rawDatabase } from '../support/resolver-harness.js';

/** The page's own `app` (a function given to `page.evaluate` is serialized: it must name the page's globals, not an import). */
const app = () => self as unknown as App;

warnIfNoChromium('the browser tabs attack tests');

/** A Web Worker of the app: starts a client, writes what it is told, and answers with its role and what it read. */
const WORKER = `
import * as feat from '/sdk.js';
let client;
self.onmessage = async ({ data }) => {
  try {
    if (data.start) {
      client = feat.createFeatClient(data.start);
      await client.ready();
    }
    if (data.write) await client.store.set(data.write[0], data.write[1]);
    if (data.push) await client.sync.waitForPush({ timeout: 10000 });
    const read = data.read ? await client.store.get(data.read) : undefined;
    self.postMessage({ ok: true, leader: client.sync.leader, read });
  } catch (error) {
    self.postMessage({ ok: false, code: error.code, message: String(error.message) });
  }
};`;

describe.skipIf(!hasChromium)('attack: several tabs of one user in Chromium', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `tabs-${what}-${run}-${n++}`;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE], '/worker.js': ['text/javascript', WORKER] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  /** `count` tabs of `user` in one new context (one origin's storage); the first leads. */
  async function tabs(user: string, count: number): Promise<Page[]> {
    const context = await harness.newContext();
    const pages: Page[] = [];
    for (let i = 0; i < count; i++) {
      const { page, leader } = await openApp(context, origin, emu, user);
      expect(leader, `tab ${i} leader`).toBe(i === 0);
      pages.push(page);
    }
    return pages;
  }
  const leaderOf = (page: Page) => page.evaluate(() => app().client.sync.leader);
  const seenOf = (page: Page) => page.evaluate(() => app().seen);
  /** Sends `message` to the page's worker (started on first use) and resolves with its answer. */
  const toWorker = (page: Page, message: Record<string, unknown>) =>
    page.evaluate(
      (message) =>
        new Promise<Record<string, unknown>>((resolve) => {
          const state = self as unknown as { worker?: Worker };
          state.worker ??= new Worker('/worker.js', { type: 'module' });
          state.worker.onmessage = (event) => resolve(event.data as Record<string, unknown>);
          state.worker.postMessage(message);
        }),
      message,
    );

  it('two tabs writing one key at once: no rejection, no replication conflict; every tab and the server end on one value; then the last write wins', async () => {
    const user = userFor('same');
    const [a, b] = await tabs(user, 2);
    // README "Several tabs": "Two tabs writing the same key: each write goes on top of the replica's current revision
    // (the last one wins)." — so no write fails and no conflicting revision is ever created.
    const burst = (page: Page, who: string) =>
      page.evaluate(async (who) => {
        const failures: string[] = [];
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            app()
              .client.store.set('same', `${who}${i}`)
              .catch((e: { code: string }) => void failures.push(e.code)),
          ),
        );
        return failures;
      }, who);
    const [fa, fb] = await Promise.all([burst(a!, 'A'), burst(b!, 'B')]);
    expect([...fa, ...fb]).toEqual([]);
    await Promise.all([a!.evaluate(() => app().settled(20_000)), b!.evaluate(() => app().settled(20_000))]);
    const [va, vb] = await Promise.all([a!.evaluate(() => app().client.store.get('same')), b!.evaluate(() => app().client.store.get('same'))]);
    expect(va).toBe(vb);
    // README "Watch": "Events come in order" — an app that renders from watch ends on the stored value in every tab.
    const lastEvent = (page: Page) => page.evaluate(() => app().seen.events.filter((e) => e.key === 'same').at(-1)?.value);
    for (const page of [a!, b!]) await until(async () => (await lastEvent(page)) === va, 5_000, `watch ends on the stored value ${String(va)}`).catch(async (e: Error) => {
      throw new Error(`${e.message}; last event ${String(await lastEvent(page))}`);
    });
    expect((await readOnServer(emu, user, ['same'])).same).toBe(va);

    // Sequential (awaited) writes: the later one wins everywhere.
    await a!.evaluate(() => app().client.store.set('same', 'A-final'));
    await b!.evaluate(() => app().client.store.set('same', 'B-final'));
    await a!.evaluate(() => app().settled(20_000));
    for (const page of [a!, b!]) expect(await page.evaluate(() => app().client.store.get('same'))).toBe('B-final');
    expect((await readOnServer(emu, user, ['same'])).same).toBe('B-final');
    for (const page of [a!, b!]) {
      const seen = await seenOf(page);
      expect(seen.conflicts.filter((c) => c.source === 'replication')).toEqual([]);
      expect(seen.errors).toEqual([]);
    }
  }, 90_000);

  it('watch in every tab reports every other tab\'s writes in order per key, never twice, and its own writes exactly once', async () => {
    const user = userFor('watch');
    const pages = await tabs(user, 3);
    // README "Watch": "Events come in order"; "A subscription reports every change made after watch() returned: the
    // client's own writes … so none is missed". README "Several tabs": "watch … report every change, whoever made it";
    // "origin … 'local' for this tab's own writes, 'remote' for everything else — another tab's writes".
    await Promise.all(
      pages.map((page, i) =>
        page.evaluate(async (i) => {
          for (let v = 1; v <= 15; v++) await app().client.store.set(`w${i}`, v);
        }, i),
      ),
    );
    const lastOf = (events: { key: string; value: unknown }[], key: string) => events.filter((e) => e.key === key).at(-1)?.value;
    for (const page of pages) {
      await until(async () => {
        const { events } = await seenOf(page);
        return [0, 1, 2].every((i) => lastOf(events, `w${i}`) === 15);
      }, 15_000, 'every tab sees the last value of every key');
    }
    for (const [t, page] of pages.entries()) {
      const { events } = await seenOf(page);
      for (let i = 0; i < 3; i++) {
        const mine = events.filter((e) => e.key === `w${i}`);
        const values = mine.map((e) => e.value as number);
        if (i === t) {
          expect(values, `tab ${t}: its own writes`).toEqual(Array.from({ length: 15 }, (_, k) => k + 1));
          expect(new Set(mine.map((e) => e.origin))).toEqual(new Set(['local']));
        } else {
          expect(values.every((v, k) => k === 0 || v > values[k - 1]!), `tab ${t} sees w${i} in order, once each: ${values.join(',')}`).toBe(true);
          expect(new Set(mine.map((e) => e.origin)), `tab ${t}: w${i} is another tab's`).toEqual(new Set(['remote']));
        }
      }
    }
  }, 90_000);

  it('a follower writes while the leader pushes a burst: waitForPush in the follower means a new device reads all of it', async () => {
    const user = userFor('burst');
    const [leader, follower] = await tabs(user, 2);
    // README "Several tabs": "the leader's live push picks their writes up"; "pending() and waitForPush() … hold in
    // every tab". API.md: waitForPush — "writes made before the call are on the server".
    const leaderBurst = leader!.evaluate(async () => {
      const text = 'x'.repeat(2_000);
      await Promise.all(Array.from({ length: 150 }, (_, i) => app().client.store.set(`L${i}`, `${i}${text}`)));
    });
    const followerWrites = follower!.evaluate(async () => {
      for (let i = 0; i < 40; i++) await app().client.store.set(`F${i}`, i);
      await app().client.sync.waitForPush({ timeout: 30_000 });
    });
    await Promise.all([leaderBurst, followerWrites]);
    await leader!.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    const keys = [...Array.from({ length: 150 }, (_, i) => `L${i}`), ...Array.from({ length: 40 }, (_, i) => `F${i}`)];
    const got = await readOnServer(emu, user, keys, 5_000);
    expect(got.F39).toBe(39);
    expect(String(got.L149).startsWith('149x')).toBe(true);
    for (const page of [leader!, follower!]) expect(await page.evaluate(() => app().client.sync.pending())).toBe(0);
  }, 90_000);

  it('the leader tab reloads mid-write: every acknowledged write of either tab reaches the server; no conflict, and the tabs agree', async () => {
    const user = userFor('reload');
    const context = await harness.newContext();
    const { page: leader } = await openApp(context, origin, emu, user);
    const { page: follower } = await openApp(context, origin, emu, user);
    // README "Several tabs": "The browser releases the lock when the leader's tab … reloads …; the next tab waiting for it
    // leads at once … Nothing acknowledged is lost: a write resolves once it is in the shared replica, and the new leader
    // pushes it."
    const acked = new Set<string>();
    await leader.exposeFunction('ack', (key: string) => void acked.add(key));
    await leader.evaluate(async () => {
      for (let i = 0; i < 20; i++) await app().client.store.set(`r${i}`, `v${i}`);
      for (let i = 20; i < 80; i++) void app().client.store.set(`r${i}`, `v${i}`).then(() => (self as unknown as { ack(k: string): void }).ack(`r${i}`));
    });
    const followerWriting = follower.evaluate(async () => {
      for (let i = 0; i < 30; i++) await app().client.store.set(`f${i}`, `v${i}`);
    });
    await leader.reload();
    await followerWriting;
    await until(() => leaderOf(follower), 5_000, 'the follower takes over');
    const { leader: reopenedLeads } = await openApp(context, origin, emu, user, leader);
    expect(reopenedLeads).toBe(false);
    await follower.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    const keys = [...Array.from({ length: 20 }, (_, i) => `r${i}`), ...acked, ...Array.from({ length: 30 }, (_, i) => `f${i}`)];
    const got = await readOnServer(emu, user, keys, 5_000);
    for (const [k, v] of Object.entries(got)) expect(v).toBe(`v${k.slice(1)}`);
    // The reopened tab reads what the follower reads, for every key either wrote.
    const all = Array.from({ length: 80 }, (_, i) => `r${i}`);
    const read = (page: Page) => page.evaluate((all) => Promise.all(all.map((k) => app().client.store.get(k))), all);
    expect(await read(leader)).toEqual(await read(follower));
    const seen = await seenOf(follower);
    expect(seen.conflicts).toEqual([]);
  }, 90_000);

  it('offline and back: pending() and status agree in every tab and come back to 0 / idle', async () => {
    const user = userFor('pending');
    const [leader, follower] = await tabs(user, 2);
    await leader!.evaluate(() => app().settled(20_000));
    // README "Several tabs": the leader tells the followers "its sync status, which is their status"; "pending() and
    // waitForPush() count on the shared replica and the leader's confirmations …, so they hold in every tab".
    await emu.suspend();
    try {
      await follower!.evaluate(async () => {
        for (let i = 0; i < 5; i++) await app().client.store.set(`p${i}`, i);
      });
      const state = (page: Page) => page.evaluate(async () => ({ status: app().client.sync.status, pending: await app().client.sync.pending() }));
      await until(async () => (await state(leader!)).status === 'offline' && (await state(follower!)).status === 'offline', 20_000, 'both tabs offline');
      const [sl, sf] = [await state(leader!), await state(follower!)];
      expect(sl.pending).toBe(5);
      expect(sf.pending).toBe(5);
    } finally {
      await emu.resume();
    }
    for (const page of [leader!, follower!]) {
      await page.evaluate(() => app().settled(30_000));
      await until(() => page.evaluate(() => app().client.sync.status === 'idle'), 20_000, 'idle again');
      // README "Sync": the pending event "carries the new count whenever it changes (writes queued, stored, confirmed on
      // the server)"; "Several tabs": pending() holds in every tab — so its last event in every tab is 0.
      await until(() => page.evaluate(() => app().seen.pending.at(-1) === 0), 10_000, 'the last pending event is 0');
    }
    expect(await readOnServer(emu, user, ['p4'])).toEqual({ p4: 4 });
  }, 90_000);

  it('a leader tab whose JavaScript is busy: a follower whose writes wait stops saying idle (connecting, within seconds); once the leader is free they reach the server and it is idle again', async () => {
    const user = userFor('busy');
    const [leader, follower] = await tabs(user, 2);
    await leader!.evaluate(() => app().settled(20_000));
    await until(() => follower!.evaluate(() => app().client.sync.status === 'idle'), 10_000, 'the follower idle');
    // A long task (a big synchronous computation, a paused debugger): the leader neither pushes nor answers.
    const busy = leader!.evaluate(() => {
      const end = Date.now() + 14_000;
      while (Date.now() < end);
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await follower!.evaluate(() => app().client.store.set('w', 'waits'));
    // README "Sync": `idle` is "up to date": not while this tab's write waits on a leader that says nothing.
    await until(() => follower!.evaluate(() => app().client.sync.status === 'connecting'), 10_000, 'the follower says connecting');
    expect(await follower!.evaluate(() => app().client.sync.pending())).toBe(1);
    await busy;
    await follower!.evaluate(() => app().settled(20_000));
    await until(() => follower!.evaluate(() => app().client.sync.status === 'idle'), 10_000, 'idle again');
    const statuses = (await seenOf(follower!)).statuses;
    expect(statuses.slice(statuses.lastIndexOf('connecting')).at(-1)).toBe('idle');
    expect(await readOnServer(emu, user, ['w'])).toEqual({ w: 'waits' });
  }, 90_000);

  it('a tab opened while the browser is offline starts from the shared replica, reads and writes; online again, the server gets both tabs\' writes', async () => {
    const user = userFor('offline-open');
    const context = await harness.newContext();
    const { page: first } = await openApp(context, origin, emu, user);
    await first.evaluate(async () => {
      await app().client.store.set('before', 'synced');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    // The second tab's page loads, then the browser goes offline before its app starts.
    const second = await load(context, origin);
    await context.setOffline(true);
    try {
      // README "Sync": "navigator.onLine === false and the offline event make the status offline at once".
      await until(() => first.evaluate(() => app().client.sync.status === 'offline'), 5_000, 'the first tab is offline');
      await first.evaluate(() => app().client.store.set('off-first', 'written offline in tab 1'));
      // README "Tips / Offline": "a device whose replica synced before opens it at once in ready()".
      const started = await second.evaluate(
        (options) =>
          Promise.race([
            app().start(options).then(() => 'ready'),
            new Promise((resolve) => setTimeout(() => resolve('ready() hung'), 8_000)),
          ]),
        optionsFor(emu, user),
      );
      expect(started).toBe('ready');
      expect(await second.evaluate(() => Promise.all([app().client.store.get('before'), app().client.store.get('off-first')]))).toEqual([
        'synced',
        'written offline in tab 1',
      ]);
      expect(await second.evaluate(() => app().client.sync.status)).toBe('offline');
      await second.evaluate(() => app().client.store.set('off-second', 'written offline in tab 2'));
      expect(await second.evaluate(() => app().client.sync.pending())).toBeGreaterThanOrEqual(2);
    } finally {
      await context.setOffline(false);
    }
    await second.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    expect(await readOnServer(emu, user, ['off-first', 'off-second'])).toEqual({ 'off-first': 'written offline in tab 1', 'off-second': 'written offline in tab 2' });
  }, 90_000);

  it('close() in the leader tab while a follower keeps writing: the follower leads and its writes reach the server', async () => {
    const user = userFor('close');
    const [leader, follower] = await tabs(user, 2);
    // API.md: "client.close() flushes pending writes, stops sync and closes databases". README "Several tabs": "the
    // leader's live push picks their writes up"; "Nothing acknowledged is lost". A closed client syncs nothing, so
    // the open tab must take over the sync.
    const writing = follower!.evaluate(async () => {
      for (let i = 0; i < 20; i++) await app().client.store.set(`c${i}`, i);
    });
    await leader!.evaluate(() => app().client.close());
    await writing;
    await until(() => leaderOf(follower!), 5_000, 'the follower takes over after the leader closed');
    await follower!.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    expect((await readOnServer(emu, user, ['c19'])).c19).toBe(19);
    expect(await leader!.evaluate(() => app().client.store.get('c1').catch((e: { code: string }) => e.code))).toBe('closed');
  }, 60_000);

  it('logout() without destroyLocal in the leader tab ends only that tab: the other keeps writing, takes over, and syncs', async () => {
    const user = userFor('logout');
    const [leader, follower] = await tabs(user, 2);
    // README "Several tabs": "logout() without destroyLocal ends only this tab's client."
    const writing = follower!.evaluate(async () => {
      const codes: string[] = [];
      for (let i = 0; i < 20; i++) await app().client.store.set(`l${i}`, i).catch((e: { code: string }) => void codes.push(e.code));
      return codes;
    });
    await leader!.evaluate(() => app().client.logout());
    expect(await writing).toEqual([]);
    expect(await follower!.evaluate(() => app().client.store.get('l19'))).toBe(19);
    expect((await seenOf(follower!)).errors).toEqual([]);
    await until(() => leaderOf(follower!), 5_000, 'the follower takes over after the leader logged out');
    await follower!.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    expect((await readOnServer(emu, user, ['l19'])).l19).toBe(19);
  }, 60_000);

  it('logout({ destroyLocal: true }) in a follower while the leader writes in a loop: the leader\'s calls fail with closed only; nothing of the replica is left', async () => {
    const user = userFor('destroy');
    const [leader, follower] = await tabs(user, 2);
    // README "Several tabs": "logout({ destroyLocal: true }) in one tab first asks the others to close (they report an
    // error event closed, and their calls fail with closed), waits until they have …, then deletes the replica."
    const writing = leader!.evaluate(async () => {
      const codes: string[] = [];
      const deadline = Date.now() + 15_000;
      for (let i = 0; Date.now() < deadline; i++) {
        const code = await app()
          .client.store.set(`d${i}`, i)
          .then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
        if (code !== 'ok') {
          codes.push(code);
          if (codes.length >= 3) break;
        }
      }
      return codes;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await follower!.evaluate(() => app().client.logout({ destroyLocal: true }));
    expect(await writing).toEqual(['closed', 'closed', 'closed']);
    const hex = Buffer.from(user).toString('hex');
    // The replica is not re-created afterwards by what the closed tab left running (PouchDB's live changes listeners).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = (await leader!.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''))).filter((name) => name.includes(hex));
    expect(left, 'databases left').toEqual([]);
    expect((await seenOf(leader!)).errors).toContain('closed');
  }, 60_000);

  it('pause() in the leader pauses every tab; a follower writes meanwhile; resume() pushes it', async () => {
    const user = userFor('pause');
    const [leader, follower] = await tabs(user, 2);
    // README "Several tabs": "sync.pause() in the leader pauses the sync of every tab (the followers show paused)".
    await leader!.evaluate(() => app().client.sync.pause());
    await until(() => follower!.evaluate(() => app().client.sync.status === 'paused'), 5_000, 'the follower shows paused');
    await follower!.evaluate(() => app().client.store.set('while-paused', 'kept'));
    expect(await follower!.evaluate(() => app().client.sync.pending())).toBe(1);
    await leader!.evaluate(() => app().client.sync.resume());
    await follower!.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    expect(await readOnServer(emu, user, ['while-paused'])).toEqual({ 'while-paused': 'kept' });
    await until(() => follower!.evaluate(() => app().client.sync.status === 'idle'), 10_000, 'the follower idle again');
  }, 60_000);

  it('a follower waiting in waitForPush while the server is down and the leader tab closes: the new leader pushes, and the wait resolves', async () => {
    const user = userFor('wait');
    const context = await harness.newContext();
    const { page: leader } = await openApp(context, origin, emu, user);
    const { page: follower } = await openApp(context, origin, emu, user);
    // README "Several tabs": "pending() and waitForPush() count on the shared replica and the leader's confirmations …,
    // so they hold in every tab"; "Takeover … then it connects and replicates"; "Nothing acknowledged is lost".
    await emu.suspend();
    let waiting: Promise<string> | undefined;
    try {
      await follower.evaluate(() => app().client.store.set('waited', 'pushed by the new leader'));
      waiting = follower.evaluate(() =>
        app()
          .client.sync.waitForPush({ timeout: 40_000 })
          .then(() => 'resolved', (e: { code: string }) => e.code),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await leader.close();
      await until(() => leaderOf(follower), 5_000, 'the follower takes over');
    } finally {
      await emu.resume();
    }
    expect(await waiting).toBe('resolved');
    expect(await readOnServer(emu, user, ['waited'])).toEqual({ waited: 'pushed by the new leader' });
  }, 90_000);

  it('another device\'s edits of one key reach a follower\'s watch in order, each at most once, ending on the last', async () => {
    const user = userFor('remote-order');
    const [, follower] = await tabs(user, 2);
    // README "Several tabs": "watch … report every change, whoever made it"; "Watch": "Events come in order".
    const device = createFeatClient({ ...optionsFor(emu, user), local: { adapter: 'memory' } });
    try {
      for (let v = 1; v <= 12; v++) {
        await device.store.set('remote-key', v);
        await device.sync.waitForPush({ timeout: 10_000 });
      }
    } finally {
      await device.close();
    }
    const values = () => follower!.evaluate(() => app().seen.events.filter((e) => e.key === 'remote-key').map((e) => e.value as number));
    await until(async () => (await values()).at(-1) === 12, 15_000, 'the follower sees the last value');
    const seen = await values();
    expect(seen.every((v, k) => k === 0 || v > seen[k - 1]!), `in order, once each: ${seen.join(',')}`).toBe(true);
    expect(await follower!.evaluate(() => app().seen.events.filter((e) => e.key === 'remote-key').every((e) => e.origin === 'remote'))).toBe(true);
  }, 60_000);

  it('tabs and another device write one key: the latest write wins everywhere, and every tab\'s watch ends on it', async () => {
    const user = userFor('devices');
    const [a, b] = await tabs(user, 2);
    // API.md "Conflicts": "The default keeps the latest updatedAt"; "Two devices resolving the same conflict converge".
    const device = createFeatClient({ ...optionsFor(emu, user), local: { adapter: 'memory' } });
    try {
      await device.ready();
      device.sync.pause();
      await device.store.set('shared', 'device, older');
      await a!.evaluate(() => app().client.store.set('shared', 'tab A'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await b!.evaluate(() => app().client.store.set('shared', 'tab B, latest'));
      await a!.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
      device.sync.resume();
      await device.sync.waitForPush({ timeout: 10_000 });
      await expect.poll(() => device.store.get('shared'), { timeout: 15_000 }).toBe('tab B, latest');
    } finally {
      await device.close();
    }
    for (const page of [a!, b!]) {
      await until(() => page.evaluate(async () => (await app().client.store.get('shared')) === 'tab B, latest'), 15_000, 'the tab reads the latest');
      await until(() => page.evaluate(() => app().seen.events.filter((e) => e.key === 'shared').at(-1)?.value === 'tab B, latest'), 10_000, 'watch ends on the latest');
    }
    // The device's close() pushed its resolution (within its grace); the tabs' leader resolves the same conflict when
    // it pulls the device's revision. Either way the server converges; under load that may take a moment after close().
    const raw = await rawDatabase(emu, user);
    await until(async () => ((await raw.doc('shared'))._conflicts ?? []).length === 0, 20_000, 'the server holds no conflict');
    expect(await readOnServer(emu, user, ['shared'])).toEqual({ shared: 'tab B, latest' });
  }, 90_000);

  it('read-your-tab\'s-writes: once a set in one tab resolved, get, keys, getParts and find in the other tab see it at once', async () => {
    const user = userFor('ryw');
    const [a, b] = await tabs(user, 2);
    // README "Several tabs": "The others (followers) read and write the shared replica directly"; "a write resolves once
    // it is in the shared replica". README "Queries": find on the replica ("local-first runs pouchdb-find on the replica").
    const mismatches: string[] = [];
    for (let i = 0; i < 12; i++) {
      const [writer, reader] = i % 2 === 0 ? [a!, b!] : [b!, a!];
      await writer.evaluate(async (i) => {
        const { store } = app().client;
        await store.set('ryw', i);
        await store.setParts('todo', { [`t${i}`]: { title: `task ${i}`, prio: i } });
      }, i);
      const read = await reader.evaluate(async (i) => {
        const { store } = app().client;
        const [value, keys, parts, found, sorted] = await Promise.all([
          store.get('ryw'),
          store.keys('todo:'),
          store.getParts('todo'),
          store.find({ prefix: 'todo', selector: { prio: { $gte: i } } }),
          store.find({ prefix: 'todo', selector: { prio: { $gte: 0 } }, sort: [{ prio: 'desc' }], limit: 1 }),
        ]);
        return { value, keys: keys.length, parts: Object.keys(parts).length, found: found.map((r) => r.subkey), top: sorted[0]?.subkey };
      }, i);
      const want = { value: i, keys: i + 1, parts: i + 1, found: [`t${i}`], top: `t${i}` };
      if (JSON.stringify(read) !== JSON.stringify(want)) mismatches.push(`round ${i}: ${JSON.stringify(read)}`);
    }
    expect(mismatches).toEqual([]);
  }, 60_000);

  it('watchQuery in a follower updates on the leader\'s writes, and its results equal find', async () => {
    const user = userFor('watchquery');
    const [leader, follower] = await tabs(user, 2);
    // README "Queries": watchQuery — "a new result set after every change (this device's or another's) that alters them".
    await follower!.evaluate(() => {
      const state = self as unknown as { results: string[][] };
      state.results = [];
      app().client.store.watchQuery<{ done: boolean }>({ prefix: 'q', selector: { done: false } }, (rows) => state.results.push(rows.map((r) => r.subkey ?? r.key)));
    });
    await leader!.evaluate(async () => {
      await app().client.store.setParts('q', { a: { done: false }, b: { done: false } });
      await app().client.store.setParts('q', { a: { done: true } });
    });
    const last = () => follower!.evaluate(() => (self as unknown as { results: string[][] }).results.at(-1));
    await until(async () => JSON.stringify(await last()) === JSON.stringify(['b']), 10_000, 'the follower\'s watchQuery shows [b]').catch(async (e: Error) => {
      throw new Error(`${e.message}; last results ${JSON.stringify(await last())}`);
    });
    const found = await follower!.evaluate(async () => (await app().client.store.find({ prefix: 'q', selector: { done: false } })).map((r) => r.subkey ?? r.key));
    expect(found).toEqual(['b']);
  }, 60_000);

  it('a big (chunked) value rewritten in one tab while another tab reads it in a loop: every read is one whole value', async () => {
    const user = userFor('chunk-read');
    const [writer, reader] = (await tabs(user, 2)) as [Page, Page];
    // API.md: "A value or part too big for one document … is stored transparently across several documents; a reader
    // never sees a torn or mixed value". README FAQ: "A reader whose replica has the manifest but not yet all its chunks
    // waits up to 5 s, then gets not_found — never a torn value".
    await writer.evaluate(async () => {
      const big = (tag: string) => Array.from({ length: 150_000 }, (_, i) => `${tag}${i}`).join(' ');
      await app().client.store.set('big', big('v0-'));
    });
    const reading = reader.evaluate(async () => {
      const seen: string[] = [];
      const deadline = Date.now() + 60_000;
      const self_ = self as unknown as { stopReading?: boolean };
      while (!self_.stopReading && Date.now() < deadline) {
        const v = await app().client.store.get('big').then(
          (v) => (typeof v === 'string' ? `${v.slice(0, 3)}|${v.length}|${v.slice(-9)}` : `not a string: ${typeof v}`),
          (e: { code: string }) => `rejected ${e.code}`,
        );
        seen.push(v);
      }
      return seen;
    });
    const shapes = await writer.evaluate(async () => {
      const big = (tag: string) => Array.from({ length: 150_000 }, (_, i) => `${tag}${i}`).join(' ');
      const out: string[] = [];
      for (const tag of ['v0-', 'v1-', 'v2-', 'v3-']) {
        const v = big(tag);
        out.push(`${v.slice(0, 3)}|${v.length}|${v.slice(-9)}`);
        if (tag !== 'v0-') await app().client.store.set('big', v);
      }
      return out;
    });
    await reader.evaluate(() => void ((self as unknown as { stopReading?: boolean }).stopReading = true));
    const seen = await reading;
    console.log(`chunked value read ${seen.length} times while rewritten: ${[...new Set(seen)].length} distinct`);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.filter((v) => !shapes.includes(v))).toEqual([]);
    // A read in flight when the last write became durable may still answer the one before (it began earlier); a read
    // that begins after it answers the last value.
    const after = await reader.evaluate(async () => {
      const v = await app().client.store.get('big');
      return typeof v === 'string' ? `${v.slice(0, 3)}|${v.length}|${v.slice(-9)}` : `not a string: ${typeof v}`;
    });
    expect(after).toBe(shapes.at(-1));
  }, 90_000);

  it('remove in one tab: the other tab\'s watch gets the delete and reads undefined; a set in that tab brings the key back everywhere', async () => {
    const user = userFor('remove');
    const [a, b] = await tabs(user, 2);
    // API.md: ChangeEvent kind 'delete'; README "Watch": "value … undefined for a delete"; "Several tabs": the last one wins.
    await a!.evaluate(() => app().client.store.set('gone', 'here'));
    await b!.evaluate(() => app().client.store.remove('gone'));
    await until(() => a!.evaluate(() => app().seen.events.filter((e) => e.key === 'gone').at(-1)?.kind === 'delete'), 10_000, 'tab A sees the delete');
    expect(await a!.evaluate(() => app().client.store.get('gone'))).toBeUndefined();
    expect(await a!.evaluate(() => app().client.store.keys('gone'))).toEqual([]);
    await a!.evaluate(() => app().client.store.set('gone', 'back'));
    await until(() => b!.evaluate(async () => (await app().client.store.get('gone')) === 'back'), 10_000, 'tab B reads it back');
    await a!.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
    expect(await readOnServer(emu, user, ['gone'])).toEqual({ gone: 'back' });
  }, 60_000);

  it('a follower that paused, then takes over, stays paused (its writes wait); resume() pushes them', async () => {
    const user = userFor('follower-pause');
    const context = await harness.newContext();
    const { page: leader } = await openApp(context, origin, emu, user);
    const { page: follower } = await openApp(context, origin, emu, user);
    // README "Several tabs": "sync.pause() … in a follower it pauses nothing now, and keeps that tab's sync paused if it
    // takes over".
    await follower.evaluate(() => app().client.sync.pause());
    await follower.evaluate(() => app().client.store.set('fp1', 'pushed by the leader'));
    await follower.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
    await leader.close();
    await until(() => leaderOf(follower), 5_000, 'the follower takes over');
    await follower.evaluate(() => app().client.store.set('fp2', 'waits for resume'));
    await until(() => follower.evaluate(() => app().client.sync.status === 'paused'), 5_000, 'the new leader is paused');
    const early = await follower.evaluate(() =>
      app()
        .client.sync.waitForPush({ timeout: 1_500 })
        .then(() => 'pushed while paused', (e: { code: string }) => e.code),
    );
    expect(early).toBe('timeout');
    await follower.evaluate(() => app().client.sync.resume());
    await follower.evaluate(() => app().client.sync.waitForPush({ timeout: 15_000 }));
    expect(await readOnServer(emu, user, ['fp1', 'fp2'])).toEqual({ fp1: 'pushed by the leader', fp2: 'waits for resume' });
  }, 60_000);

  it('watch({ initial: true }) in a tab opened while another tab writes: current value first, then in order, ending on the last', async () => {
    const user = userFor('initial');
    const context = await harness.newContext();
    const { page: writer } = await openApp(context, origin, emu, user);
    // README "Watch": "Current value first … then every later change. No gap … (a write made just before subscribing may
    // also arrive as a change after the current values)"; "Events come in order".
    const writing = writer.evaluate(async () => {
      for (let v = 1; v <= 60; v++) await app().client.store.set('live', v);
    });
    const { page: late } = await openApp(context, origin, emu, user);
    await late.evaluate(() => {
      const state = self as unknown as { initial: { value: unknown; current?: boolean | undefined }[] };
      state.initial = [];
      app().client.store.watch('live', (e) => state.initial.push({ value: e.value, current: (e as { current?: boolean }).current }), { initial: true });
    });
    await writing;
    const events = () => late.evaluate(() => (self as unknown as { initial: { value: number; current?: boolean }[] }).initial);
    await until(async () => (await events()).at(-1)?.value === 60, 10_000, 'the late tab sees the last value');
    const seen = await events();
    expect(seen[0]!.current).toBe(true);
    const values = seen.map((e) => e.value);
    expect(values.every((v, k) => k === 0 || v >= values[k - 1]!), `in order: ${values.join(',')}`).toBe(true);
  }, 60_000);

  it('two users in one origin: each replica has its own leader; one user\'s logout({ destroyLocal: true }) closes none of the other\'s tabs', async () => {
    const [alice, bob] = [userFor('alice'), userFor('bob')];
    const context = await harness.newContext();
    const a = await openApp(context, origin, emu, alice);
    const b = await openApp(context, origin, emu, bob);
    // README "Several tabs": "The clients of one replica elect a leader"; logout asks "the others" (of the replica) to close.
    expect([a.leader, b.leader]).toEqual([true, true]);
    await a.page.evaluate(() => app().client.logout({ destroyLocal: true }));
    expect((await seenOf(b.page)).errors).toEqual([]);
    await b.page.evaluate(async () => {
      await app().client.store.set('bob-still', 'here');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    expect(await readOnServer(emu, bob, ['bob-still'])).toEqual({ 'bob-still': 'here' });
  }, 60_000);

  it('a Web Worker takes part like a tab: it follows the page\'s leader, its writes reach the server, it reads the page\'s writes', async () => {
    const user = userFor('worker');
    const context = await harness.newContext();
    const { page, leader } = await openApp(context, origin, emu, user);
    expect(leader).toBe(true);
    // README "Several tabs": "A Web Worker of the same origin takes part like a tab."
    await page.evaluate(() => app().client.store.set('from-page', 'page'));
    const answer = await toWorker(page, { start: optionsFor(emu, user), write: ['from-worker', 'worker'], read: 'from-page' });
    expect(answer).toEqual({ ok: true, leader: false, read: 'page' });
    await until(() => page.evaluate(async () => (await app().client.store.get('from-worker')) === 'worker'), 5_000, 'the page reads the worker\'s write');
    // README "Several tabs": "watch and the hooks report every change, whoever made it".
    await until(
      () => page.evaluate(() => app().seen.events.some((e) => e.key === 'from-worker' && e.value === 'worker' && e.origin === 'remote')),
      5_000,
      'the page\'s watch reports the worker\'s write',
    );
    // API.md: waitForPush — "writes made before the call are on the server": a new device reads both at once.
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
    expect(await readOnServer(emu, user, ['from-page', 'from-worker'], 0)).toEqual({ 'from-page': 'page', 'from-worker': 'worker' });
    // The worker's own waitForPush (README "Several tabs": waitForPush holds "in every tab").
    const pushed = await toWorker(page, { write: ['from-worker-2', 'pushed'], push: true });
    expect(pushed).toMatchObject({ ok: true, leader: false });
    expect(await readOnServer(emu, user, ['from-worker-2'], 0)).toEqual({ 'from-worker-2': 'pushed' });
  }, 60_000);

  it('after another tab\'s logout({ destroyLocal: true }), a new client in a closed tab signs in again: it leads, pulls the server\'s data, and syncs', async () => {
    const user = userFor('again');
    const [a, b] = await tabs(user, 2);
    await a!.evaluate(async () => {
      await app().client.store.set('server-side', 'kept on the server');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    await a!.evaluate(() => app().client.logout({ destroyLocal: true }));
    await until(async () => (await seenOf(b!)).errors.includes('closed'), 5_000, 'tab B was closed');
    // README "Several tabs / Logout": the other tabs "report an error event closed, and their calls fail with closed";
    // nothing says the tab cannot sign in again with a new client (API.md: "Calls after close reject with code closed").
    const started = await b!.evaluate(
      (options) =>
        Promise.race([
          app()
            .start(options)
            .then(async ({ leader }) => ({ leader, value: await app().client.store.get('server-side') })),
          new Promise((resolve) => setTimeout(() => resolve('ready() hung'), 15_000)),
        ]),
      optionsFor(emu, user),
    );
    expect(started).toEqual({ leader: true, value: 'kept on the server' });
    await b!.evaluate(async () => {
      await app().client.store.set('after-relogin', 'yes');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    expect(await readOnServer(emu, user, ['after-relogin'])).toEqual({ 'after-relogin': 'yes' });
  }, 60_000);

  it('close() then a new client in the same (only) tab: it leads again and syncs', async () => {
    const user = userFor('reopen');
    const [page] = await tabs(user, 1);
    await page!.evaluate(() => app().client.close());
    // README "Several tabs": the leader is the tab holding the lock; a closed client must not keep it from a new one.
    const leader = await page!.evaluate((options) => app().start(options).then((r) => r.leader), optionsFor(emu, user));
    expect(leader).toBe(true);
    await page!.evaluate(async () => {
      await app().client.store.set('reopened', 1);
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    expect(await readOnServer(emu, user, ['reopened'])).toEqual({ reopened: 1 });
  }, 60_000);

  it('a Web Worker that leads: a tab\'s writes reach the server, and the tab\'s waitForPush means they are there', async () => {
    const user = userFor('worker-leads');
    const context = await harness.newContext();
    const page = await load(context, origin);
    // README "Several tabs": "A Web Worker of the same origin takes part like a tab" — so it may lead, and "the leader's
    // live push picks their writes up".
    const answer = await toWorker(page, { start: optionsFor(emu, user) });
    expect(answer).toMatchObject({ ok: true, leader: true });
    const { leader } = await page.evaluate((options) => app().start(options), optionsFor(emu, user));
    expect(leader).toBe(false);
    const result = await page.evaluate(async () => {
      await app().client.store.set('from-tab', 'pushed by the worker');
      return app()
        .client.sync.waitForPush({ timeout: 10_000 })
        .then(() => 'pushed', (e: { code: string }) => e.code);
    });
    expect(result).toBe('pushed');
    expect(await readOnServer(emu, user, ['from-tab'], 0)).toEqual({ 'from-tab': 'pushed by the worker' });
    // The tab's watch reports what the leading worker writes (README "Several tabs": "watch … report every change").
    expect(await toWorker(page, { write: ['from-leader', 'written by the worker'] })).toMatchObject({ ok: true });
    await until(
      () => page.evaluate(() => app().seen.events.some((e) => e.key === 'from-leader' && e.origin === 'remote')),
      5_000,
      'the tab\'s watch reports the leading worker\'s write',
    );
  }, 60_000);

  it('logout({ destroyLocal: true }) in a tab while a Web Worker of the app has the replica open: the worker is closed, and nothing re-creates the replica', async () => {
    const user = userFor('worker-destroy');
    const context = await harness.newContext();
    const page = await load(context, origin);
    expect(await toWorker(page, { start: optionsFor(emu, user), write: ['w', 'from the worker'] })).toMatchObject({ ok: true, leader: true });
    await page.evaluate((options) => app().start(options), optionsFor(emu, user));
    // README "Several tabs": logout({ destroyLocal: true }) "first asks the others to close (… their calls fail with
    // closed) …, then deletes the replica"; "A Web Worker of the same origin takes part like a tab".
    await page.evaluate(() => app().client.logout({ destroyLocal: true }));
    expect(await toWorker(page, { write: ['w2', 'after logout'] })).toMatchObject({ ok: false, code: 'closed' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const hex = Buffer.from(user).toString('hex');
    expect((await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''))).filter((n) => n.includes(hex))).toEqual([]);
  }, 60_000);
});
