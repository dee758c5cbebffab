/**
 * feat-logout (real Chromium): the "pending deletion" record of logout({ destroyLocal: true }) and the sessions
 * directory `feat-sessions` held open by another connection (README: "while another connection holds feat-sessions open
 * (a tab that does not answer, the app's own IndexedDB code) they wait up to 10 s, then reject with timeout (it is
 * forgotten as soon as that connection closes").
 *
 * Both failed before: the pending-deletion record of a logout that timed out on the directory was written when the
 * directory freed, after the user had signed in again, and a later start deleted the new replica.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('feat-logout late-record');

type Held = { release(waitGone?: boolean): Promise<unknown> };

describe.skipIf(!hasChromium)('a pending-deletion record that lands late', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `l2-${what}-${run}-${n++}`;

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
  const release = (page: Page) =>
    page.evaluate(async () => {
      const app = () => self as unknown as App & { held?: Held };
      await app().held!.release(false);
    });

  // Failed before: the record written by the timed-out logout lands when the directory frees, and dooms the
  // replica A made after signing in again: A's next start deletes A's new, unpushed write.
  it('A logs out with destroyLocal while feat-sessions is held (rejects timeout), signs in again at once and writes: the write survives the holder letting go and A\'s next start', async () => {
    const alice = userFor('late');
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice);
    await page.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('old', 'A before logout');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const holder = await load(ctx, origin);
    await hold(holder, '_pouch_feat-sessions');
    const r1 = await page.evaluate(() => {
      const app = () => self as unknown as App;
      return app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 40_000);
    });
    // A signs in again at once (online), pauses sync and writes something only this device has.
    const again = await page.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const started = await app().settle(app().start(o), 40_000);
      app().client.sync.pause();
      const wrote = await app().settle(app().client.store.set('new', 'A after signing in again').then(() => 'ok'), 10_000);
      return { started, wrote, old: (await app().client.store.get('old')) ?? null };
    }, optionsFor(emu, alice));
    await release(holder);
    await new Promise((r) => setTimeout(r, 5_000));
    const stillThere = await page.evaluate(async () => {
      const app = () => self as unknown as App;
      const v = await app().settle(app().client.store.get('new').then((x) => String(x)), 10_000);
      await app().client.close();
      return v;
    });
    // A's next start (page reload), sync paused again straight away would be too late: read what the replica has.
    await load(ctx, origin, page);
    const next = await page.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const started = await app().settle(app().start(o), 40_000);
      return { started, v: started.startsWith('resolved') ? ((await app().client.store.get('new')) ?? null) : null };
    }, optionsFor(emu, alice));
    expect({ r1, again, stillThere, next }).toEqual({
      r1: 'rejected timeout',
      again: { started: 'resolved value', wrote: 'resolved ok', old: 'A before logout' },
      stillThere: 'resolved A after signing in again',
      next: { started: 'resolved value', v: 'A after signing in again' },
    });
    await ctx.close();
  }, 180_000);

  // Failed before: the same root cause with one `local.name` for every account: A's late record dooms the replica B
  // made under that name meanwhile; the next start on the origin (C's, another account) deletes B's unpushed write.
  it('one local.name for all: A\'s destroyLocal logout while feat-sessions is held, then B signs in and writes offline: A\'s old record never deletes B\'s replica', async () => {
    const [alice, bob, carol] = [userFor('lname-a'), userFor('lname-b'), userFor('lname-c')];
    const name = `app-${run}-${n++}`;
    const ctx = await harness.newContext();
    const { page } = await openApp(ctx, origin, emu, alice, undefined, { local: { name } });
    await page.evaluate(async () => {
      const app = () => self as unknown as App;
      await app().client.store.set('a', 'A data');
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    const holder = await load(ctx, origin);
    await hold(holder, '_pouch_feat-sessions');
    const r1 = await page.evaluate(() => {
      const app = () => self as unknown as App;
      return app().settle(app().client.logout({ destroyLocal: true }).then(() => 'ok'), 40_000);
    });
    const b = await page.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const started = await app().settle(app().start(o), 40_000);
      app().client.sync.pause();
      const wrote = await app().settle(app().client.store.set('b', 'B unpushed').then(() => 'ok'), 10_000);
      return { started, wrote };
    }, { ...optionsFor(emu, bob), local: { name } });
    await release(holder);
    await new Promise((r) => setTimeout(r, 5_000));
    await page.evaluate(() => (self as unknown as App).client.close());
    await page.close();
    // Carol's start (another account, its own replica) on the origin: background work on pending deletions.
    const pc = await load(ctx, origin);
    await pc.evaluate((o) => (self as unknown as App).start(o), optionsFor(emu, carol));
    await new Promise((r) => setTimeout(r, 8_000));
    await pc.evaluate(() => (self as unknown as App).client.close());
    const listedAfterCarol = await pc.evaluate(async (db) => (await indexedDB.databases()).some((d) => d.name === db), `_pouch_${name}`);
    console.log(`[feat-logout] B's replica still listed after Carol's start: ${listedAfterCarol}`);
    await load(ctx, origin, pc);
    const bAgain = await pc.evaluate(async (o) => {
      const app = () => self as unknown as App;
      const started = await app().settle(app().start(o), 40_000);
      return { started, b: started.startsWith('resolved') ? ((await app().client.store.get('b')) ?? null) : null };
    }, { ...optionsFor(emu, bob), local: { name } });
    expect({ r1, b, bAgain }).toEqual({
      r1: 'rejected timeout',
      b: { started: 'resolved value', wrote: 'resolved ok' },
      bAgain: { started: 'resolved value', b: 'B unpushed' },
    });
    await ctx.close();
  }, 180_000);
});
