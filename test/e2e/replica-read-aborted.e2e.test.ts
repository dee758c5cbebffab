/**
 * A write of a key this client has not seen first looks up its revision in the replica (store/look-up.ts). PouchDB's
 * `indexeddb` adapter answers a read only when its transaction completes: one IndexedDB aborts instead (as it may for
 * a tab that was frozen, or blocked by another connection) is never answered, and the write waited forever. The read
 * is now bounded and asked again in a new transaction; when the replica never answers, the write rejects `timeout`
 * (a wait on this device: the sync status does not turn `offline`), and nothing is written.
 * The same for the pull: one that waits out the tabs' write lock (`feat-write:<replica>`) held by a tab that does not
 * answer fails with a local `timeout`, and the status says `error`, never `offline` (the server answered).
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

warnIfNoChromium('the aborted-replica-read browser tests');

describe.skipIf(!hasChromium)('a replica read never answered, a write lock never released', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  /**
   * Has IndexedDB abort the transaction of the next `times` reads of the replica's `docs` store that ask for document
   * `id`, or for a range starting with `id` (get, getAll, cursors), after they succeeded: PouchDB then never answers.
   */
  const abortReadsOf = (p: Page, id: string, times: number) =>
    p.evaluate(
      ({ id, times }) => {
        const s = self as unknown as { aborted: number };
        s.aborted = 0;
        const lowest = (query: unknown): unknown => (query instanceof IDBKeyRange ? query.lower : query);
        const hits = (query: unknown) => {
          const key = lowest(query);
          // PouchDB's index keys are arrays ([deleted, id]).
          const ids = Array.isArray(key) ? key : [key];
          // (An id ending in `~` names every id it starts, as a range does: a big value's chunks.)
          return ids.some((k) => k === id || ((query instanceof IDBKeyRange || id.endsWith('~')) && typeof k === 'string' && k.startsWith(id)));
        };
        for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype] as const) {
          for (const method of ['get', 'getAll', 'getAllKeys', 'openCursor', 'openKeyCursor'] as const) {
            const original = (proto as unknown as Record<string, (...args: unknown[]) => IDBRequest>)[method]!;
            (proto as unknown as Record<string, unknown>)[method] = function (this: IDBObjectStore | IDBIndex, ...args: unknown[]) {
              const request = original.apply(this, args);
              const store = this instanceof IDBIndex ? this.objectStore : this;
              // (Never PouchDB's own upgrade of the database, which it reopens after an aborted transaction.)
              if (s.aborted < times && store.name === 'docs' && store.transaction.mode !== 'versionchange' && hits(args[0])) {
                s.aborted++;
                const transaction = store.transaction;
                request.addEventListener('success', () => transaction.abort(), { once: true });
              }
              return request;
            };
          }
        }
      },
      { id, times },
    );
  const aborted = (p: Page) => p.evaluate(() => (self as unknown as { aborted: number }).aborted);

  it.concurrent('one read aborted: asked again, the write is stored', async () => {
    const user = `rra-once-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    await abortReadsOf(page, 'unseen', 1);
    const t0 = Date.now();
    const outcome = await page.evaluate(() => app().settle(app().client.store.set('unseen', 'v1'), 40_000));
    const took = Date.now() - t0;
    expect(await aborted(page)).toBe(1);
    expect(outcome).toBe('resolved value');
    expect(took).toBeLessThan(25_000);
    expect(await page.evaluate(() => app().client.store.get('unseen'))).toBe('v1');
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    const device = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await device.ready();
      expect(await device.store.get('unseen')).toBe('v1');
    } finally {
      await device.close();
    }
  }, 90_000);

  it.concurrent('setParts: its read of the stored parts aborted once is asked again, the parts are stored', async () => {
    const user = `rra-parts-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    await abortReadsOf(page, 'obj:', 1);
    const t0 = Date.now();
    const outcome = await page.evaluate(() => app().settle(app().client.store.setParts('obj', { a: 1, b: 2 }), 40_000));
    expect(await aborted(page)).toBe(1);
    expect(outcome).toBe('resolved value');
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(await page.evaluate(() => app().client.store.getParts('obj'))).toEqual({ a: 1, b: 2 });
  }, 90_000);

  it.concurrent('the app’s reads (get, getParts, a big value’s chunks): one aborted is asked again and answered', async () => {
    const user = `rra-reads-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    const big = "x".repeat(3_000_000);
    await page.evaluate(async (big) => {
      await app().client.store.set('g1', 'one');
      await app().client.store.setParts('obj', { a: 1, b: 2 });
      await app().client.store.set('big', big);
    }, big);
    const timed = async (id: string, call: () => Promise<string>) => {
      await abortReadsOf(page, id, 1);
      const t0 = Date.now();
      const outcome = await call();
      return { outcome, aborted: await aborted(page), took: Date.now() - t0 };
    };
    const get = await timed('g1', () => page.evaluate(() => app().settle(app().client.store.get('g1'), 40_000)));
    expect(get).toMatchObject({ outcome: 'resolved one', aborted: 1 });
    expect(get.took).toBeLessThan(25_000);
    const parts = await timed('obj:', () => page.evaluate(() => app().client.store.getParts('obj').then((v) => JSON.stringify(v))));
    expect(parts).toMatchObject({ outcome: '{"a":1,"b":2}', aborted: 1 });
    // A big value's chunks are documents of their own (feat~chunk~…): their read is aborted once.
    const chunks = await timed('feat~chunk~', () => page.evaluate(() => app().client.store.get<string>('big').then((v) => String(v?.length))));
    expect(chunks).toMatchObject({ outcome: String(big.length), aborted: 1 });
  }, 120_000);

  it.concurrent('the app’s read never answered: getParts and keys reject a local timeout within their bound, the status stays honest', async () => {
    const user = `rra-rnever-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.setParts('p', { a: 'kept' });
      await app().client.sync.waitForPush({ timeout: 20_000 });
    });
    // Every range read (keys() reads from '', getParts from 'p:').
    await abortReadsOf(page, '', 1_000);
    const failed = (call: 'getParts' | 'keys') =>
      page.evaluate((call) => {
        const t0 = Date.now();
        const read = call === 'getParts' ? app().client.store.getParts('p') : app().client.store.keys();
        return read.then(
          () => ({ outcome: 'resolved', took: Date.now() - t0 }),
          (e: { code?: string; message?: string }) => ({ outcome: `${e.code}: ${e.message}`, took: Date.now() - t0 }),
        );
      }, call);
    const [parts, keys] = await Promise.all([failed('getParts'), failed('keys')]);
    for (const { outcome, took } of [parts, keys]) {
      // (Never answered, or its transaction aborted each time it is asked again: both a local timeout.)
      expect(outcome).toMatch(/^timeout: The local replica( did not answer within 30000 ms \(reading |'s IndexedDB transaction was aborted)/);
      expect(took).toBeGreaterThan(29_000);
      expect(took).toBeLessThan(45_000);
    }
    expect(await page.evaluate(() => app().client.sync.status)).not.toBe('offline');
    await page.evaluate(() => {
      (self as unknown as { aborted: number }).aborted = Infinity;
    });
    expect(await page.evaluate(() => app().client.store.getParts('p'))).toEqual({ a: 'kept' });
  }, 120_000);

  it.concurrent('never answered: the write rejects timeout within its bound, the status stays honest, the next write goes through', async () => {
    const user = `rra-never-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    await abortReadsOf(page, 'stuck', 1_000);
    const t0 = Date.now();
    const outcome = await page.evaluate(() => app().settle(app().client.store.set('stuck', 'lost?'), 60_000));
    const took = Date.now() - t0;
    expect(outcome).toBe('rejected timeout');
    expect(took).toBeGreaterThan(29_000);
    expect(took).toBeLessThan(45_000);
    expect(await page.evaluate(() => app().client.sync.status)).not.toBe('offline');
    await page.evaluate(() => {
      (self as unknown as { aborted: number }).aborted = Infinity;
    });
    expect(await page.evaluate(() => app().settle(app().client.store.set('stuck', 'v2'), 30_000))).toBe('resolved value');
    expect(await page.evaluate(() => app().client.store.get('stuck'))).toBe('v2');
  }, 120_000);

  it.concurrent('the pull waiting for a write lock another tab holds: status error, never offline; it goes on once released', async () => {
    const user = `rra-wlock-${run}`;
    const context = await harness.newContext();
    const { page: leader, leader: leads } = await openApp(context, harness.origin, emu, user);
    expect(leads).toBe(true);
    await leader.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    // Another tab of the app that holds the replica's write lock and does not answer (as a frozen tab would).
    const holder = await context.newPage();
    await holder.goto(`${harness.origin}/`);
    await holder.evaluate(async () => {
      const held = (await navigator.locks.query()).held ?? [];
      const replica = held.map((l) => l.name ?? '').find((n) => n.startsWith('feat-leader:'))!.slice('feat-leader:'.length);
      const s = self as unknown as { release?: () => void };
      await new Promise<void>((acquired) => {
        void navigator.locks.request(`feat-write:${replica}`, () => {
          acquired();
          return new Promise<void>((release) => (s.release = release));
        });
      });
    });
    const other = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await other.ready();
      await other.store.set('marker', 1);
      await other.sync.waitForPush({ timeout: 30_000 });
      const statuses: string[] = [];
      for (let i = 0; i < 40; i++) {
        statuses.push(await leader.evaluate(() => app().client.sync.status));
        await new Promise((r) => setTimeout(r, 1_000));
      }
      await holder.evaluate(() => (self as unknown as { release: () => void }).release());
      const t1 = Date.now();
      let marker: unknown;
      while (Date.now() - t1 < 60_000 && (marker = await leader.evaluate(() => app().client.store.get('marker'))) === undefined) await new Promise((r) => setTimeout(r, 250));
      console.log({ statuses: statuses.join(' ') });
      expect(statuses.filter((s) => s === 'offline')).toEqual([]);
      expect(statuses).toContain('error');
      expect(marker).toBe(1);
    } finally {
      await other.close();
    }
  }, 150_000);

  it.concurrent('a write whose IndexedDB transaction is aborted: a local timeout, not `server`; the next write goes through', async () => {
    const user = `rra-wabort-${run}`;
    const { page } = await openApp(await harness.newContext(), harness.origin, emu, user);
    await page.evaluate(() => app().client.store.set('w', 0));
    await page.evaluate(() => {
      const put = IDBObjectStore.prototype.put;
      const s = self as unknown as { abortedWrites: number };
      s.abortedWrites = 0;
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
        const request = put.call(this, value, key);
        if (s.abortedWrites === 0 && this.name === 'docs' && (value as { id?: unknown })?.id === 'w') {
          s.abortedWrites++;
          const transaction = this.transaction;
          request.addEventListener('success', () => transaction.abort(), { once: true });
        }
        return request;
      };
    });
    const failed = await page.evaluate(() =>
      app().client.store.set('w', 1).then(
        () => 'resolved',
        (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
      ),
    );
    expect(failed).toMatch(/^timeout: The local replica's IndexedDB transaction was aborted/);
    expect(await page.evaluate(() => app().client.store.get('w'))).toBe(0);
    expect(await page.evaluate(() => app().settle(app().client.store.set('w', 2), 20_000))).toBe('resolved value');
    expect(await page.evaluate(() => app().client.store.get('w'))).toBe(2);
  }, 60_000);
});
