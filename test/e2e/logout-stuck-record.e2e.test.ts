/**
 * feat-logout (real Chromium): pending-deletion records that cannot be finished at once, two tabs finishing one, and
 * IndexedDB `versionchange` events that are not a deletion of the replica.
 *
 * Failed before: "… tab 2's sign-in answered 3 s later: both start …" (every run; "… two tabs of A start at once …"
 * showed the same race without the delay, 1 run in 5). The others confirm what held.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('feat-logout stuck-record');

type Held = { release(waitGone?: boolean): Promise<{ listedWhileHeld: boolean; listedAfter: boolean }> };

describe.skipIf(!hasChromium)('stuck and shared pending deletions', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `l2-${what}-${run}-${n++}`;
  const hexOf = (user: string) => Buffer.from(user).toString('hex');

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  const hold = (page: Page, name: string) =>
    page.evaluate(async (db) => {
      const app = () => self as unknown as App & { held?: Held };
      app().held = await app().hold(db);
    }, name);
  const release = (page: Page, waitGone = false) =>
    page.evaluate(async (w) => {
      const app = () => self as unknown as App & { held?: Held };
      return app().held!.release(w);
    }, waitGone);
  /** Starts a client in `page`: how it settled and how long it took. */
  const timedStart = (page: Page, options: Record<string, unknown>) =>
    page.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const t0 = Date.now();
      const started = await app().settle(app().start(o), 60_000);
      return { started, ms: Date.now() - t0 };
    }, options);
  const databases = (page: Page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name!).sort());

  it('a record that cannot be finished (app code holds A\'s replica forever): B\'s starts stay quick, A\'s start rejects timeout within ~10 s and nothing hangs; once released, A starts clean', async () => {
    const [alice, bob] = [userFor('stuck-a'), userFor('stuck-b')];
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('diary', 'A diary');
      await app().client.sync.waitForPush({ timeout: 15_000 });
      app().client.sync.pause();
      await app().client.store.set('unpushed', 'A unpushed, asked to be deleted');
    });
    const holder = await load(ctx, origin);
    await hold(holder, `_pouch_feat-userdb-${hexOf(alice)}`);
    const r1 = await page.evaluate(() => {
      const app = () => self as unknown as App;
      return app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 40_000);
    });
    const bTimes: { started: string; ms: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await load(ctx, origin);
      bTimes.push(await timedStart(p, optionsFor(emu, bob)));
      await p.evaluate(() => (self as unknown as App).client.close());
      await p.close();
    }
    const pa = await load(ctx, origin);
    const aStart = await timedStart(pa, optionsFor(emu, alice));
    const aClose = await pa.evaluate(() => {
      const app = () => self as unknown as App;
      return app().settle(app().client.close().then(() => 'ok'), 10_000);
    });
    const released = await release(holder, true);
    await load(ctx, origin, pa);
    const aAgain = await pa.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const started = await app().settle(app().start(o), 40_000);
      return { started, unpushed: (await app().client.store.get('unpushed')) ?? null, diary: (await app().client.store.get('diary')) ?? null };
    }, optionsFor(emu, alice));
    expect({ r1, bStarted: bTimes.map((b) => b.started), aStarted: aStart.started, aClose, released, aAgain }).toEqual({
      r1: 'rejected timeout',
      bStarted: ['resolved value', 'resolved value', 'resolved value'],
      aStarted: 'rejected timeout',
      aClose: 'resolved ok',
      released: { listedWhileHeld: true, listedAfter: false },
      aAgain: { started: 'resolved value', unpushed: null, diary: 'A diary' },
    });
    // README: a start waits up to 10 s (slack for a busy machine). It took 20 s while another start's background
    // finish of the same deletion held the replica's tab lock for its own 10 s wait.
    expect(aStart.ms, `A's start took ${aStart.ms} ms`).toBeLessThan(16_000);
    expect(Math.max(...bTimes.map((b) => b.ms)), `B's starts took ${bTimes.map((b) => b.ms).join(', ')} ms`).toBeLessThan(8_000);
    await ctx.close();
  }, 240_000);

  it('after a crash mid-deletion, two tabs of A start at once: both open, the old unpushed write is gone, and A\'s new offline write survives B\'s later start and A\'s reopen', async () => {
    const [alice, bob] = [userFor('two-a'), userFor('two-b')];
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('diary', 'A diary');
      await app().client.sync.waitForPush({ timeout: 15_000 });
      app().client.sync.pause();
      await app().client.store.set('unpushed', 'old, asked to be deleted');
    });
    const holder = await load(ctx, origin);
    await hold(holder, `_pouch_feat-userdb-${hexOf(alice)}`);
    await page.evaluate(() => void (self as unknown as App).client.logout({ destroyLocal: true }));
    await new Promise((r) => setTimeout(r, 3_000));
    await page.close({ runBeforeUnload: false });
    await release(holder, false);
    await holder.close();
    const [t1, t2] = await Promise.all([load(ctx, origin), load(ctx, origin)]);
    const starts = await Promise.all([t1, t2].map((t) => timedStart(t, optionsFor(emu, alice))));
    const olds = await Promise.all([t1, t2].map((t) => t.evaluate(async () => ((await (self as unknown as App).client.store.get('unpushed')) ?? null) as unknown)));
    await emu.suspend();
    let wrote: string;
    try {
      wrote = await t1.evaluate(() => {
        const app = () => self as unknown as App;
        return app().settle(app().client.store.set('fresh', 'A new, offline').then(() => 'ok'), 10_000);
      });
      await new Promise((r) => setTimeout(r, 1_000));
      await Promise.all([t1, t2].map((t) => t.evaluate(() => (self as unknown as App).client.close())));
      await Promise.all([t1.close(), t2.close()]);
      // B's start (another account) finishes the origin's pending deletions in the background.
      await emu.resume();
      const pb = await load(ctx, origin);
      await timedStart(pb, optionsFor(emu, bob));
      await new Promise((r) => setTimeout(r, 5_000));
      await pb.evaluate(() => (self as unknown as App).client.close());
      await emu.suspend();
      const dbs = (await databases(pb)).filter((d) => d.includes(hexOf(alice)));
      await load(ctx, origin, pb);
      const reopened = await pb.evaluate(async (o) => {
        const app = () => self as unknown as App;
        const started = await app().settle(app().start(o), 40_000);
        return { started, fresh: started.startsWith('resolved') ? ((await app().client.store.get('fresh')) ?? null) : null };
      }, optionsFor(emu, alice));
      expect({ starts: starts.map((s) => s.started), olds, wrote, dbs: dbs.length, reopened }).toEqual({
        starts: ['resolved value', 'resolved value'],
        olds: [null, null],
        wrote: 'resolved ok',
        dbs: 1,
        reopened: { started: 'resolved value', fresh: 'A new, offline' },
      });
    } finally {
      await emu.resume();
    }
    await ctx.close();
  }, 240_000);

  it('versionchange that is not a deletion of the replica (the app upgrades the replica\'s database, deletes an unrelated one and the sessions directory): the client keeps working', async () => {
    const alice = userFor('vc');
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    const replica = `_pouch_feat-userdb-${hexOf(alice)}`;
    const out = await page.evaluate(async (name) => {
      const app = () => self as unknown as App;
      await app().client.store.set('before', 1);
      await app().client.sync.waitForPush({ timeout: 15_000 });
      const statusBefore = app().client.sync.status;
      // An unrelated database of the app: created, then deleted.
      await new Promise<void>((resolve, reject) => {
        const r = indexedDB.open('app-own-db', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('s');
        r.onsuccess = () => (r.result.close(), resolve());
        r.onerror = () => reject(r.error);
      });
      await new Promise<void>((resolve) => {
        const r = indexedDB.deleteDatabase('app-own-db');
        r.onsuccess = r.onerror = () => resolve();
      });
      // The app's own code opens the replica's database at a higher version (an upgrade), then closes.
      const version = (await indexedDB.databases()).find((d) => d.name === name)?.version ?? 1;
      const upgraded = await new Promise<string>((resolve) => {
        const r = indexedDB.open(name, version + 1);
        r.onsuccess = () => (r.result.close(), resolve('upgraded'));
        r.onerror = () => resolve(`error ${r.error?.name}`);
        r.onblocked = () => undefined;
        setTimeout(() => resolve('blocked 10 s'), 10_000);
      });
      await new Promise((r) => setTimeout(r, 500));
      const write = await app().settle(app().client.store.set('after', 2).then(() => 'ok'), 10_000);
      const read = await app().settle(app().client.store.get('after').then((v) => String(v)), 10_000);
      const push = await app().settle(app().client.sync.waitForPush({ timeout: 15_000 }).then(() => 'ok'), 20_000);
      return { upgraded, write, read, push, status: app().client.sync.status === statusBefore ? 'as before' : `${statusBefore} -> ${app().client.sync.status}` };
    }, replica);
    expect(out).toEqual({ upgraded: 'upgraded', write: 'resolved ok', read: 'resolved 2', push: 'resolved ok', status: 'as before' });
    await page.evaluate(() => (self as unknown as App).client.logout({ destroyLocal: true }));
    await ctx.close();
  }, 120_000);

  it('a tab closed by another tab\'s destroyLocal logout: its own logout() and close() resolve, and a new client there (A signs in again) works', async () => {
    const alice = userFor('closed');
    const ctx = await harness.newContext();
    const { page: t1 } = await openApp(ctx, origin, emu, alice);
    await t1.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('k', 'v');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const { page: t2 } = await openApp(ctx, origin, emu, alice);
    const r1 = await t1.evaluate(() => {
      const app = () => self as unknown as App;
      return app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 40_000);
    });
    const t2Out = await t2.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const get = await app().settle(app().client.store.get('k'), 10_000);
      const logout = await app().settle(app().client.logout().then(() => 'ok'), 15_000);
      const destroy = await app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 15_000);
      const close = await app().settle(app().client.close().then(() => 'ok'), 15_000);
      const started = await app().settle(app().start(o), 40_000);
      const write = await app().settle(app().client.store.set('again', 'A again').then(() => 'ok'), 10_000);
      const k = (await app().client.store.get('k')) ?? null;
      return { get, logout, destroy, close, started, write, k };
    }, optionsFor(emu, alice));
    expect({ r1, t2Out }).toEqual({
      r1: 'resolved ok',
      t2Out: { get: 'rejected closed', logout: 'resolved ok', destroy: 'resolved ok', close: 'resolved ok', started: 'resolved value', write: 'resolved ok', k: 'v' },
    });
    await t2.evaluate(() => (self as unknown as App).client.logout({ destroyLocal: true }));
    await ctx.close();
  }, 150_000);

  // Failed before: a start that read the pending deletion before the other tab finished it waits for the replica's
  // tab lock exclusively, which the other tab's open client now holds (shared) for good: ready() rejects timeout.
  it('after a crash mid-deletion, two tabs of A restored at once, tab 2\'s sign-in answered 3 s later: both start (the deletion was finished by tab 1)', async () => {
    const alice = userFor('two-slow');
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('diary', 'A diary');
      await app().client.sync.waitForPush({ timeout: 15_000 });
      app().client.sync.pause();
      await app().client.store.set('unpushed', 'old, asked to be deleted');
    });
    const holder = await load(ctx, origin);
    await hold(holder, `_pouch_feat-userdb-${hexOf(alice)}`);
    await page.evaluate(() => void (self as unknown as App).client.logout({ destroyLocal: true }));
    await new Promise((r) => setTimeout(r, 3_000));
    await page.close({ runBeforeUnload: false });
    await release(holder, false);
    await holder.close();
    const [t1, t2] = await Promise.all([load(ctx, origin), load(ctx, origin)]);
    // Tab 2's requests to the accounts service are answered 3 s late (a slow network for that tab).
    await t2.route(`${emu.accountsUrl}/**`, async (route) => {
      await new Promise((r) => setTimeout(r, 3_000));
      await route.continue();
    });
    const starts = await Promise.all([t1, t2].map((t) => timedStart(t, optionsFor(emu, alice))));
    const olds = await Promise.all(
      [t1, t2].map((t) => t.evaluate(async () => ((await (self as unknown as App).client.store.get('unpushed').catch((e: { code?: string }) => `get rejected ${e.code}`)) ?? null) as unknown)),
    );
    expect({ starts: starts.map((s) => s.started), olds }, `start times ${starts.map((s) => s.ms).join(', ')} ms`).toEqual({
      starts: ['resolved value', 'resolved value'],
      olds: [null, null],
    });
    await t1.evaluate(() => (self as unknown as App).client.logout({ destroyLocal: true }));
    await ctx.close();
  }, 180_000);
});
