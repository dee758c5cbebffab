/**
 * `pending()` and `waitForPush()` count on the shared replica (README "Several tabs"): the writes another tab or a Web
 * Worker made to the same `indexeddb` replica before the call are waited for too. PouchDB's `indexeddb` adapter keeps
 * `info().update_seq` per connection (apache/pouchdb#8494), so a `waitForPush()` that read its target there missed
 * them: with the server down it resolved at once, and a tab that took over from a terminated leader worker resolved
 * before pushing the worker's writes.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, optionsFor, readOnServer, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

/** A module worker running the SDK: runs the code it is sent (an async function body; `arg`, `feat`, `self`). */
const WORKER = `import * as feat from '/sdk.js';
const AsyncFunction = (async () => {}).constructor;
self.onmessage = async (e) => {
  const { id, code, arg } = e.data;
  try { self.postMessage({ id, ok: true, value: await new AsyncFunction('arg', 'feat', code)(arg, feat) }); }
  catch (error) { self.postMessage({ id, ok: false, value: (error && error.code) || String(error) }); }
};
self.postMessage({ ready: true });`;

interface WithWorker {
  worker: Worker;
  inWorker(code: string, arg?: unknown): Promise<unknown>;
}

/** Starts the page's worker (`self.worker`, `self.inWorker(code, arg)`). */
const spawnWorker = (p: Page) =>
  p.evaluate(
    () =>
      new Promise<void>((ready) => {
        const s = self as unknown as WithWorker;
        const w = new Worker('/worker.js', { type: 'module' });
        const waiting = new Map<number, (r: { ok: boolean; value: unknown }) => void>();
        let n = 0;
        w.onmessage = (e: MessageEvent) => {
          if (e.data.ready) return ready();
          waiting.get(e.data.id)?.(e.data);
          waiting.delete(e.data.id);
        };
        s.worker = w;
        s.inWorker = (code, arg) =>
          new Promise((resolve, reject) => {
            waiting.set(++n, (r) => (r.ok ? resolve(r.value) : reject(new Error(String(r.value)))));
            w.postMessage({ id: n, code, arg });
          });
      }),
  );
const inWorker = (p: Page, code: string, arg?: unknown) => p.evaluate(([c, a]) => (self as unknown as WithWorker).inWorker(c, a), [code, arg] as const);
const START = `self.client = feat.createFeatClient(arg); await self.client.ready(); return self.client.sync.leader;`;

warnIfNoChromium('the waitForPush-across-contexts browser tests');

describe.skipIf(!hasChromium)('waitForPush() and pending() with the writes of other tabs and workers', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE], '/worker.js': ['text/javascript', WORKER] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  /** With the server down, `writes` runs in another context; then `page` must count it pending and not resolve waitForPush. */
  async function offlineWriteWaitedFor(page: Page, writes: () => Promise<unknown>): Promise<void> {
    await emu.suspend();
    try {
      await writes();
      expect(await page.evaluate(() => app().client.sync.pending())).toBeGreaterThanOrEqual(1);
      expect(await page.evaluate(() => app().settle(app().client.sync.waitForPush({ timeout: 2_000 }), 10_000))).toBe('rejected timeout');
    } finally {
      await emu.resume();
    }
  }

  it('another tab wrote with the server down: the leader tab does not resolve', async () => {
    const user = `wfpc-tabs-${run}`;
    const context = await harness.newContext();
    const { page: a, leader } = await openApp(context, harness.origin, emu, user);
    const { page: b, leader: bLeads } = await openApp(context, harness.origin, emu, user);
    expect([leader, bLeads]).toEqual([true, false]);
    await a.evaluate(async () => {
      await app().client.store.set('k0', 'pushed');
      await app().client.sync.waitForPush({ timeout: 20_000 });
    });
    await offlineWriteWaitedFor(a, () => b.evaluate(() => app().client.store.set('kb', 'from-b')));
    await a.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    expect(await readOnServer(emu, user, ['kb'])).toEqual({ kb: 'from-b' });
  }, 90_000);

  it('a worker wrote with the server down: the leader page does not resolve', async () => {
    const user = `wfpc-worker-${run}`;
    const { page, leader } = await openApp(await harness.newContext(), harness.origin, emu, user);
    expect(leader).toBe(true);
    await spawnWorker(page);
    expect(await inWorker(page, START, optionsFor(emu, user))).toBe(false);
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    await offlineWriteWaitedFor(page, () => inWorker(page, `await self.client.store.set('kw', 'from-worker'); return 1`));
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    expect(await readOnServer(emu, user, ['kw'])).toEqual({ kw: 'from-worker' });
  }, 90_000);

  /** A page whose worker leads, both with a client of `user`. */
  async function workerLeads(user: string): Promise<Page> {
    const page = await (await harness.newContext()).newPage();
    await page.goto(`${harness.origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true);
    await spawnWorker(page);
    expect(await inWorker(page, START, optionsFor(emu, user))).toBe(true);
    expect((await page.evaluate((options) => app().start(options), optionsFor(emu, user))).leader).toBe(false);
    return page;
  }

  it('the leader worker wrote with the server down: the follower page does not resolve', async () => {
    const user = `wfpc-follower-${run}`;
    const page = await workerLeads(user);
    await offlineWriteWaitedFor(page, () => inWorker(page, `await self.client.store.set('kw', 'from-worker'); return 1`));
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    expect(await readOnServer(emu, user, ['kw'])).toEqual({ kw: 'from-worker' });
  }, 90_000);

  it('the leader worker wrote with the server down and was terminated: the page takes over and resolves only once they are on the server', async () => {
    const user = `wfpc-killed-${run}`;
    const page = await workerLeads(user);
    await emu.suspend();
    try {
      // A small value and a large (chunked) one, as an app would write them.
      await inWorker(page, `await self.client.store.set('kw', 'from-worker'); await self.client.store.set('big', 'y'.repeat(2_000_000)); return 1`);
      await page.evaluate(() => (self as unknown as WithWorker).worker.terminate());
      await expect.poll(() => page.evaluate(() => app().client.sync.leader), { timeout: 10_000 }).toBe(true);
    } finally {
      await emu.resume();
    }
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    // Right after: on the server already (asked directly, not waited for).
    const remote = createFeatClient({ ...optionsFor(emu, user), mode: 'remote' });
    try {
      expect(await remote.store.get('kw')).toBe('from-worker');
    } finally {
      await remote.close();
    }
    expect(await page.evaluate(() => app().client.sync.pending())).toBe(0);
  }, 90_000);
});
