/**
 * A tab frozen (CDP `Debugger.pause`) while its big (chunked) write holds the chunk lock `feat-chunks:<replica>`:
 * - the other tab's big write rejects with `timeout` after the documented 30 s; once the frozen tab resumes, its own
 *   write settles (stored, or `timeout`), the lock is released, and the other tab's next big write succeeds;
 * - the leader's pull batch that waits for that lock fails with `timeout`, but the server answered: the leader's status
 *   never says `offline`.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, optionsFor, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

warnIfNoChromium('the frozen-chunk-lock browser tests');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MAX_DOC = 4096;

describe.skipIf(!hasChromium)('a tab frozen while it holds the chunk lock', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  const tab = (context: BrowserContext, user: string) =>
    openApp(context, harness.origin, emu, user, undefined, { maxDocumentBytes: MAX_DOC, maintenance: { enabled: false } });
  const heldLocks = (p: Page) => p.evaluate(async () => ((await navigator.locks.query()).held ?? []).map((l) => l.name!));
  /** Starts a 3 MB write in `p` (not awaited): its outcome goes to self.bigOutcome. */
  const startBig = (p: Page, key: string) =>
    p.evaluate((key) => {
      const s = self as unknown as { bigOutcome?: string | undefined };
      s.bigOutcome = undefined;
      let t = '';
      let x = 7;
      while (t.length < 3_000_000) t += (x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff).toString(36);
      const t0 = Date.now();
      void app().client.store.set(key, { t: t.slice(0, 3_000_000) }).then(
        () => (s.bigOutcome = `resolved after ${Date.now() - t0} ms`),
        (e: { code?: string; message?: string }) => (s.bigOutcome = `rejected ${e.code} after ${Date.now() - t0} ms: ${e.message}`),
      );
    }, key);
  const bigOutcome = (p: Page) => p.evaluate(() => (self as unknown as { bigOutcome?: string }).bigOutcome);
  /** Pauses `holder` as soon as `watcher` sees the chunk lock held. */
  async function freezeWhileHolding(holder: Page, watcher: Page): Promise<CDPSession> {
    const cdp = await holder.context().newCDPSession(holder);
    for (let i = 0; i < 400; i++) {
      if ((await heldLocks(watcher)).some((n) => n.startsWith('feat-chunks:'))) {
        await cdp.send('Debugger.enable');
        await cdp.send('Debugger.pause');
        return cdp;
      }
      await sleep(5);
    }
    throw new Error('the holder never held the chunk lock');
  }

  /**
   * Pauses `p` inside its big write's look-up of the chunks present (a `debugger` statement in the first read of a chunk
   * id from IndexedDB), and has IndexedDB abort that read's transaction once resumed, as it may do with a transaction of
   * a tab that was frozen: PouchDB's `indexeddb` adapter never answers a read whose transaction aborted (it listens for
   * `complete` only), and the write held the chunk lock forever.
   */
  async function freezeInChunkRead(p: Page): Promise<CDPSession> {
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('Debugger.enable');
    const paused = new Promise<void>((resolve) => cdp.once('Debugger.paused', () => resolve()));
    await p.evaluate(() => {
      const get = IDBObjectStore.prototype.get;
      let armed = true;
      IDBObjectStore.prototype.get = function (this: IDBObjectStore, query: IDBValidKey | IDBKeyRange) {
        if (armed && this.name === 'docs' && typeof query === 'string' && query.startsWith('feat~chunk~')) {
          armed = false;
          // eslint-disable-next-line no-debugger
          debugger;
          const request = get.call(this, query);
          const transaction = this.transaction;
          request.addEventListener('success', () => transaction.abort());
          return request;
        }
        return get.call(this, query);
      };
    });
    await startBig(p, 'frozenbig');
    await paused;
    return cdp;
  }

  it.concurrent('resumed after another tab wrote meanwhile, its big write settles and releases the lock', async () => {
    const context = await harness.newContext();
    const a = await tab(context, `cls-freeze-${run}`);
    const b = await tab(context, `cls-freeze-${run}`);
    // Known to b: its writes below need no look-up first (a read, which a frozen tab's transaction may hold up).
    await b.page.evaluate(async () => Promise.all([app().client.store.set('other', 0), app().client.store.set('small', 0)]));
    const cdp = await freezeInChunkRead(a.page);
    expect(await heldLocks(b.page)).toContainEqual(expect.stringMatching(/^feat-chunks:/));
    const t0 = Date.now();
    const waited = await b.page.evaluate(() => app().settle(app().client.store.set('other', { t: 'y'.repeat(200_000) }), 45_000));
    const took = Date.now() - t0;
    // A small write waits at most for the frozen tab's write lock (30 s).
    const small = await b.page.evaluate(() => app().settle(app().client.store.set('small', 1), 35_000));
    await cdp.send('Debugger.resume');
    const deadline = Date.now() + 75_000;
    while ((await bigOutcome(a.page)) === undefined && Date.now() < deadline) await sleep(200);
    const outcome = await bigOutcome(a.page);
    const locks = await heldLocks(a.page);
    const after = await b.page.evaluate(() => app().settle(app().client.store.set('other', { t: 'z'.repeat(200_000) }), 40_000));
    const holderSmall = await a.page.evaluate(() => app().settle(app().client.store.set('hsmall', 1), 10_000));
    console.log({ waited, took, small, outcome, locks, after, holderSmall });
    expect(waited).toBe('rejected timeout');
    expect(took).toBeGreaterThan(29_000);
    expect(took).toBeLessThan(40_000);
    expect(small).toMatch(/^(resolved value|rejected timeout)$/);
    // Settled: stored, or rejected (`timeout`; an error of the replica the abort left behind) — never pending.
    expect(outcome).toMatch(/^(resolved|rejected)/);
    expect(locks.filter((n) => n.startsWith('feat-chunks:'))).toEqual([]);
    expect(after).toBe('resolved value');
    expect(holderSmall).toBe('resolved value');
    if (outcome!.startsWith('resolved')) {
      const got = await b.page.evaluate(async () => ((await app().client.store.get('frozenbig')) as { t: string } | undefined)?.t.length);
      expect(got).toBe(3_000_000);
    }
  }, 240_000);

  it.concurrent('the leader\'s pull waiting for a frozen tab\'s chunk lock does not make its status offline', async () => {
    const user = `cls-pull-${run}`;
    const context = await harness.newContext();
    const a = await tab(context, user);
    const b = await tab(context, user);
    const [leader, follower] = a.leader ? [a.page, b.page] : [b.page, a.page];
    const other = createFeatClient({ ...optionsFor(emu, user), maxDocumentBytes: MAX_DOC, maintenance: { enabled: false }, local: { adapter: 'memory' } });
    await other.ready();
    try {
      // A chunked value replaced by a small one: its chunks are garbage, collected (deleted) by `other` below.
      await other.store.set('src', { old: 'o'.repeat(100_000) + Math.random() });
      await other.store.set('src', 'small');
      await other.sync.waitForPush({ timeout: 30_000 });
      await other.maintenance.run({ chunkGraceMs: 1e9 });
      await follower.evaluate(() => app().settled(30_000));
      await sleep(1500);
      await startBig(follower, 'fbig');
      const cdp = await freezeWhileHolding(follower, leader);
      await other.maintenance.run({ chunkGraceMs: 1000 });
      await other.store.set('marker', 1);
      await other.sync.waitForPush({ timeout: 30_000 });
      const statuses: string[] = [];
      for (let i = 0; i < 36; i++) {
        statuses.push(await leader.evaluate(() => app().client.sync.status));
        await sleep(1000);
      }
      await cdp.send('Debugger.resume');
      await other.store.set('marker2', 2);
      await other.sync.waitForPush({ timeout: 30_000 });
      const t1 = Date.now();
      let marker2: unknown;
      while (Date.now() - t1 < 60_000 && (marker2 = await leader.evaluate(() => app().client.store.get('marker2'))) === undefined) await sleep(250);
      console.log({ statuses: statuses.join(' '), marker2, lag: Date.now() - t1 });
      expect(statuses.filter((s) => s === 'offline')).toEqual([]);
      expect(marker2).toBe(2);
    } finally {
      await other.close();
    }
  }, 240_000);
});
