/**
 * logout({ destroyLocal: true }) on a shared browser profile (real Chromium, the Chromium harness's emulator):
 *
 * - one `local.name` for every account: a client of B that never called ready() leaves A's replica alone, as B's
 *   refused ready() does (README `local.name`: "a replica holds one account's data");
 * - a crash while the deletion waits for another connection to close: the deletion is recorded first, and the next
 *   start on the origin finishes it (README "Several tabs / Logout");
 * - a tab frozen in busy JavaScript with a write under way while another tab logs out with destroyLocal: when it wakes
 *   it neither records the session again nor acknowledges a write it did not keep — its calls fail with `closed`.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, until, type App } from '../attack/browser-page.js';

warnIfNoChromium('the shared-device logout browser tests');
const app = () => self as unknown as App & { held?: { release(waitGone?: boolean): Promise<unknown> }; late?: Promise<string> };

describe.skipIf(!hasChromium)('logout({ destroyLocal: true }) on a shared browser profile', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `sl-${what}-${run}-${n++}`;
  const hexOf = (user: string) => Buffer.from(user).toString('hex');

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  /** Every IndexedDB database of the origin, each object store's keys and values, as text. */
  const dump = (page: Page) =>
    page.evaluate(async () => {
      const out: string[] = [];
      for (const { name } of await indexedDB.databases()) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open(name!);
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        for (const store of Array.from(db.objectStoreNames)) {
          const [keys, rows] = await Promise.all(
            (['getAllKeys', 'getAll'] as const).map(
              (method) =>
                new Promise<unknown[]>((resolve, reject) => {
                  const request = db.transaction(store, 'readonly').objectStore(store)[method]();
                  request.onsuccess = () => resolve(request.result);
                  request.onerror = () => reject(request.error);
                }),
            ),
          );
          out.push(`idb ${name}/${store} ${JSON.stringify(keys)} ${JSON.stringify(rows)}`);
        }
        db.close();
      }
      return out.join('\n');
    });
  const sessionOf = (dumped: string, user: string) => dumped.split('\n').some((l) => l.includes('feat-sessions') && l.includes(hexOf(user)));
  const databases = (page: Page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name!).sort());

  /** `user`'s keys on the server, read by a fresh memory device. */
  async function serverKeys(user: string): Promise<string[]> {
    const device = createFeatClient({ ...optionsFor(emu, user), local: { adapter: 'memory' } });
    try {
      await device.ready();
      return await device.store.keys();
    } finally {
      await device.close();
    }
  }

  it('one local.name for every account: B\'s client that never called ready() runs logout({ destroyLocal: true }): A\'s replica with A\'s unpushed write survives', async () => {
    const [alice, bob] = [userFor('na'), userFor('nb')];
    const name = `app-${run}-${n++}`;
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice, undefined, { local: { name } });
    await page.evaluate(async () => {
      await app().client.store.set('synced', 'A synced');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    await ctx.setOffline(true);
    try {
      await until(() => page.evaluate(() => app().client.sync.status === 'offline'), 10_000, 'offline');
      await page.evaluate(async () => {
        await app().client.store.set('unpushed', 'A unpushed in the browser');
        await app().client.logout();
      });
    } finally {
      await ctx.setOffline(false);
    }
    // The sign-in screen's "not you? reset this device" for B: a client made for B, logged out with destroyLocal.
    const bLogout = await page.evaluate(
      (o) => app().settle(app().feat.createFeatClient(o).logout({ destroyLocal: true }).then(() => 'ok'), 30_000),
      { ...optionsFor(emu, bob), local: { name } },
    );
    const a2 = await page.evaluate(
      async (o) => {
        const started = await app().settle(app().start(o), 30_000);
        const v = (await app().client.store.get('unpushed')) ?? null;
        await app().client.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
        return { started, v };
      },
      { ...optionsFor(emu, alice), local: { name } },
    );
    // Left alone as B's refused ready() leaves it: logout resolves.
    expect({ bLogout, a2, onServer: await serverKeys(alice) }).toEqual({
      bLogout: 'resolved ok',
      a2: { started: 'resolved value', v: 'A unpushed in the browser' },
      onServer: ['synced', 'unpushed'],
    });
    await page.evaluate(() => app().client.logout({ destroyLocal: true }));
    await ctx.close();
  }, 120_000);

  it('a crash while logout({ destroyLocal: true }) waits for a blocked deletion: the next start on the origin (another user\'s) finishes it', async () => {
    const alice = userFor('blocked');
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      await app().client.store.set('diary', 'A blocked diary');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const replica = `_pouch_feat-userdb-${hexOf(alice)}`;
    const holder = await load(ctx, origin);
    await holder.evaluate(async (name) => void (app().held = await app().hold(name)), replica);
    await page.evaluate(() => void app().client.logout({ destroyLocal: true }));
    await new Promise((r) => setTimeout(r, 3_000));
    await page.close({ runBeforeUnload: false });
    await holder.evaluate(() => app().held!.release(false));
    await holder.close();
    const fresh = await load(ctx, origin);
    const afterCrash = await dump(fresh);
    expect(sessionOf(afterCrash, alice)).toBe(false);
    await fresh.evaluate((o) => app().start(o), optionsFor(emu, userFor('blockedb')));
    // Finished in the background, bounded.
    await until(async () => !(await dump(fresh)).includes('A blocked diary'), 15_000, 'A\'s replica deleted');
    await fresh.evaluate(() => app().client.close());
    expect((await databases(fresh)).filter((d) => d.includes(hexOf(alice)))).toEqual([]);
    await ctx.close();
  }, 120_000);

  it('a crash while logout({ destroyLocal: true }) waits for a blocked deletion, then A signs in again: A\'s start deletes the old replica first (A asked for it)', async () => {
    const alice = userFor('blocked-again');
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      await app().client.store.set('diary', 'A local only');
      await app().client.sync.waitForPush({ timeout: 15_000 });
      app().client.sync.pause();
      await app().client.store.set('unpushed', 'A unpushed, asked to be deleted');
    });
    const replica = `_pouch_feat-userdb-${hexOf(alice)}`;
    const holder = await load(ctx, origin);
    await holder.evaluate(async (name) => void (app().held = await app().hold(name)), replica);
    await page.evaluate(() => void app().client.logout({ destroyLocal: true }));
    await new Promise((r) => setTimeout(r, 3_000));
    await page.close({ runBeforeUnload: false });
    await holder.evaluate(() => app().held!.release(false));
    await holder.close();
    const fresh = await load(ctx, origin);
    const again = await fresh.evaluate(async (o) => {
      const started = await app().settle(app().start(o), 30_000);
      return { started, diary: (await app().client.store.get('diary')) ?? null, unpushed: (await app().client.store.get('unpushed')) ?? null };
    }, optionsFor(emu, alice));
    expect(again).toEqual({ started: 'resolved value', diary: 'A local only', unpushed: null });
    await fresh.evaluate(() => app().client.logout({ destroyLocal: true }));
    await ctx.close();
  }, 120_000);

  it('two tabs: tab 2 issues a write and freezes (busy JavaScript) while tab 1 runs logout({ destroyLocal: true }): the write rejects closed, and nothing of A is left or remembered', async () => {
    const alice = userFor('frozen');
    const ctx = await harness.newContext();
    const { page: t1 } = await openApp(ctx, origin, emu, alice);
    await t1.evaluate(async () => {
      await app().client.store.set('k', 'v');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const { page: t2 } = await openApp(ctx, origin, emu, alice);
    await t2.evaluate(() => app().client.store.get('k'));
    // Tab 2: a write, then 14 s of synchronous work before the write can go on.
    const frozen = t2.evaluate(() => {
      app().late = app().settle(app().client.store.set('late', 'written by the frozen tab').then(() => 'ok'), 60_000);
      const until = Date.now() + 14_000;
      while (Date.now() < until) {
        /* busy */
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const r1 = await t1.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 40_000));
    await frozen;
    const late = await t2.evaluate(() => app().late!);
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await t2.evaluate(() => app().settle(app().client.store.get('late'), 10_000));
    const dbs = (await databases(t1)).filter((d) => d.includes(hexOf(alice)));
    const sessionLeft = sessionOf(await dump(t1), alice);
    await t2.close();
    // README: logout forgets the session — an offline start of A afterwards opens nothing (ready() rejects network).
    await emu.suspend();
    let offlineStart: string;
    try {
      await load(ctx, origin, t1);
      offlineStart = await t1.evaluate((o) => app().settle(app().start(o), 30_000), optionsFor(emu, alice));
    } finally {
      await emu.resume();
    }
    expect({ r1, late, after, dbs, sessionLeft, offlineStart }).toEqual({
      r1: 'resolved ok',
      late: 'rejected closed',
      after: 'rejected closed',
      dbs: [],
      sessionLeft: false,
      offlineStart: 'rejected network',
    });
    await ctx.close();
  }, 150_000);
});
