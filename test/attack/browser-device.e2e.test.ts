/**
 * Black-box attack, in real Chromium, on what the device keeps (README "What the device keeps", "Starting offline",
 * "Several tabs / Logout"): what is at rest before and after logout, a reload in the middle of a write burst or of a
 * big (chunked) value's write, an offline reload, and TTL across a reload. Every expectation cites the README line it
 * comes from; test/e2e/device-storage.e2e.test.ts (a Web Worker at rest, the full quota) is not repeated.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, openApp, optionsFor, readOnServer, until, type App } from './browser-page.js';

warnIfNoChromium('the browser device attack tests');

/** The page's own `app` (a function given to `page.evaluate` is serialized: it must name the page's globals, not an import). */
const app = () => self as unknown as App;

describe.skipIf(!hasChromium)('attack: what the device keeps, in Chromium', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `dev-${what}-${run}-${n++}`;
  const hexOf = (user: string) => Buffer.from(user).toString('hex');

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  /** Everything the origin keeps, as text: IndexedDB (every database, store, key and value), Web Storage, Cache storage, cookies. */
  const dump = (page: Page) =>
    page.evaluate(async () => {
      const out: string[] = [];
      for (const [name, storage] of [['local', localStorage], ['session', sessionStorage]] as const) {
        for (let i = 0; i < storage.length; i++) out.push(`${name}Storage ${storage.key(i)}=${storage.getItem(storage.key(i)!)}`);
      }
      out.push(`cookie ${document.cookie}`);
      for (const cacheName of await caches.keys()) {
        const cache = await caches.open(cacheName);
        for (const request of await cache.keys()) out.push(`cache ${cacheName} ${request.url} ${await (await cache.match(request))?.text()}`);
      }
      for (const { name } of await indexedDB.databases()) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open(name!);
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        out.push(`idb ${name}`);
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

  /** The bearer, its token, the proxy token the accounts service hands out for `user`, and common digests of each. */
  function secretsOf(user: string): string[] {
    const auth = emu.bearerFor(user);
    const token = auth.slice('Bearer '.length);
    const proxyToken = emu.couchHeadersFor(user)['X-Auth-CouchDB-Token'];
    const needles = [auth, token, proxyToken];
    for (const secret of [auth, token, proxyToken]) {
      for (const algorithm of ['md5', 'sha1', 'sha256', 'sha512']) {
        const raw = createHash(algorithm).update(secret).digest();
        for (const encoding of ['hex', 'base64', 'base64url'] as const) needles.push(raw.toString(encoding).slice(0, 16));
      }
    }
    return needles;
  }

  async function context(): Promise<BrowserContext> {
    return harness.newContext();
  }

  /** A user's app that stored `k` = 'v' and closed its client, then reloaded (no client yet): its page and replica. */
  async function storedThenClosed(what: string): Promise<{ page: Page; user: string; replica: string }> {
    const user = userFor(what);
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.set('k', 'v');
      await app().client.close();
    });
    await load(ctx, origin, page);
    return { page, user, replica: `_pouch_feat-userdb-${hexOf(user)}` };
  }

  /**
   * With the server down: reloads `page` and starts `user`'s app; resolves with the session's user name and the value
   * of `key`, or with the code `ready()` rejected with.
   */
  async function startWhileDown(ctx: BrowserContext, page: Page, user: string, key = ''): Promise<string | { user: string; value: unknown }> {
    await emu.suspend();
    try {
      await load(ctx, origin, page);
      return await page.evaluate(
        ({ options, key }) =>
          app()
            .start(options)
            .then(
              async ({ session }) => ({ user: session.userName, value: key ? await app().client.store.get(key) : undefined }),
              (e: { code: string }) => e.code,
            ),
        { options: optionsFor(emu, user), key },
      );
    } finally {
      await emu.resume();
    }
  }

  it('the first find() of a replica (its native index made) logs no console error ("onblocked, this should never happen")', async () => {
    const context = await harness.newContext();
    const errors: string[] = [];
    // (A 404 the SDK expects — a document not there yet — is logged by the browser itself as a failed resource load.)
    context.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
    const { page } = await openApp(context, origin, emu, userFor('find-blocked'));
    const found = await page.evaluate(async () => {
      const { client } = app();
      await client.store.setParts('todo', { a: { title: 'a', done: false }, b: { title: 'b', done: true } });
      return (await client.store.find({ prefix: 'todo', selector: { done: false } })).map((r) => r.subkey);
    });
    await page.waitForTimeout(1_000);
    expect(found).toEqual(['a']);
    expect(errors).toEqual([]);
  }, 60_000);

  it('at rest, after writes, queries, parts, an offline restart and a token refresh: no bearer, no proxy token and no digest of either anywhere the origin keeps', async () => {
    const user = userFor('rest');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    // README "What the device keeps": "No credential and no verifier of one" … "Nothing goes to localStorage".
    await page.evaluate(async () => {
      const { store, sync } = app().client;
      await store.set('secret-note', { text: 'only for me' });
      await store.setParts('doc', { a: 1, b: 2 });
      await store.find({ selector: { text: { $exists: true } } });
      await sync.waitForPush({ timeout: 10_000 });
    });
    // A rotated secret: the SDK fetches a new proxy token (README FAQ: "refreshes the token once on a 401").
    emu.rotateSecret();
    await page.evaluate(async () => {
      await app().client.store.set('after-rotation', 1);
      await app().client.sync.waitForPush({ timeout: 15_000 });
    });
    await emu.suspend();
    try {
      await openApp(ctx, origin, emu, user, page);
      expect(await page.evaluate(() => app().client.store.get('secret-note'))).toEqual({ text: 'only for me' });
    } finally {
      await emu.resume();
    }
    const stored = await dump(page);
    if (process.env.ATTACK_DEBUG) console.log(stored.split('\n').map((l) => l.slice(0, 300)).join('\n'));
    expect(stored).toContain('only for me');
    expect(secretsOf(user).filter((needle) => stored.includes(needle))).toEqual([]);
    // PouchDB's cross-tab change signal (README "Several tabs": the followers hear the shared replica "through
    // localStorage events") is the one thing there: a replica's name and a one-letter toggle, no value, no credential.
    const webStorage = stored.split('\n').filter((line) => /^(local|session)Storage /.test(line));
    expect(webStorage.filter((line) => !/^localStorage _pouch_[^=]+=(a|b|1)$/.test(line))).toEqual([]);
    expect(stored).not.toMatch(/^cache /m);
  }, 90_000);

  it('logout({ destroyLocal: true }) leaves nothing of the user: no replica, no query index, no remembered session, no value, no name', async () => {
    const user = userFor('destroy');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      const { store, sync } = app().client;
      await store.set('diary', 'dear diary, a private line');
      await store.setParts('todos', { t1: { title: 'buy milk', done: false } });
      await store.find({ prefix: 'todos', selector: { done: false }, sort: ['title'] });
      await store.set('big', 'z'.repeat(1_200_000));
      await sync.waitForPush({ timeout: 15_000 });
    });
    expect(await dump(page)).toContain('dear diary');
    // API.md: logout "also forgets the session (and deletes the local replica when asked)"; README: "with
    // { destroyLocal: true } it deletes the local replica and the remembered last session".
    await page.evaluate(() => app().client.logout({ destroyLocal: true }));
    const stored = await dump(page);
    if (process.env.ATTACK_DEBUG) console.log(stored.split('\n').map((l) => l.slice(0, 300)).join('\n'));
    for (const needle of ['dear diary', 'buy milk', 'zzzzzzzzzz', hexOf(user), user]) expect(stored, `"${needle}" left on the device`).not.toContain(needle);
    expect(secretsOf(user).filter((needle) => stored.includes(needle))).toEqual([]);
    // The remembered session is gone: offline, the same credentials cannot start (README "Starting offline": a device
    // with nothing local "cannot learn its database offline: ready() rejects with network").
    expect(await startWhileDown(ctx, page, user)).toBe('network');
  }, 90_000);

  // From here to the full-device tests, each case waits out a fixed bound (10 s, 10 s, 10 s, 30 s; the full device's
  // retries, a 12 s window) in its own browser context (own user, own IndexedDB, Web Locks and quota: a context is its
  // own storage partition), without suspending the emulator or rotating its secret: they run side by side.
  it.concurrent('logout({ destroyLocal: true }) while something else keeps the replica open: it rejects with timeout (bounded), and the replica goes once that closes', async () => {
    const user = userFor('held');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    const replica = `_pouch_feat-userdb-${hexOf(user)}`;
    const result = await page.evaluate(async (replica) => {
      await app().client.store.set('k', 'v');
      const held = await app().hold(replica);
      const t0 = performance.now();
      const outcome = await app().settle(app().client.logout({ destroyLocal: true }), 30_000);
      const ms = performance.now() - t0;
      return { outcome, ms, session: app().client.session ?? null, ...(await held.release()) };
    }, replica);
    // README "Nothing hangs"; "Several tabs / Logout": "if one stays open …, logout rejects after another 10 s with
    // timeout — the session is forgotten all the same, and the replica is deleted as soon as that connection closes".
    expect(result.outcome).toBe('rejected timeout');
    expect(result.ms).toBeLessThan(20_000);
    expect(result.session).toBeNull();
    expect(result.listedWhileHeld).toBe(true);
    expect(result.listedAfter).toBe(false);
  }, 90_000);

  it.concurrent('logout({ destroyLocal: true }) of a client that never opened the replica, while something else keeps it open: it rejects with timeout (bounded), and the replica goes once that closes', async () => {
    const { page, user, replica } = await storedThenClosed('held-wipe');
    const result = await page.evaluate(
      async ({ replica, options }) => {
        const held = await app().hold(replica);
        // A new client of the same user: it never opens the replica, its logout finds it (the remembered session).
        const client = app().feat.createFeatClient(options);
        const t0 = performance.now();
        const outcome = await app().settle(client.logout({ destroyLocal: true }), 30_000);
        const ms = performance.now() - t0;
        return { outcome, ms, ...(await held.release()) };
      },
      { replica, options: optionsFor(emu, user) },
    );
    expect(result.outcome).toBe('rejected timeout');
    expect(result.ms).toBeLessThan(20_000);
    expect(result.listedWhileHeld).toBe(true);
    expect(result.listedAfter).toBe(false);
  }, 90_000);

  it.concurrent('ready() while something else keeps the replica open without closing on versionchange: it rejects with timeout (bounded), and once that closes the same client opens it with its data', async () => {
    const { page, user, replica } = await storedThenClosed('blocked-open');
    const result = await page.evaluate(
      async ({ replica, options }) => {
        const held = await app().hold(replica);
        const client = app().feat.createFeatClient(options);
        const t0 = performance.now();
        const ready = await app().settle(client.ready(), 30_000);
        const ms = performance.now() - t0;
        await held.release(false);
        const read = await app().settle(client.store.get('k'), 30_000);
        await client.close();
        return { ready, ms, read };
      },
      { replica, options: optionsFor(emu, user) },
    );
    // README "Nothing hangs": every call settles; a replica that cannot be opened is a `timeout`, not a wait forever.
    expect(result.ready).toBe('rejected timeout');
    expect(result.ms).toBeLessThan(20_000);
    expect(result.read).toBe('resolved v');
  }, 90_000);

  it.concurrent('a write while a tab that does not answer holds the tabs\' write lock: it rejects with timeout (bounded), writes nothing, and the next write after the lock is free goes through', async () => {
    const user = userFor('held-lock');
    const { page } = await openApp(await context(), origin, emu, user);
    const result = await page.evaluate(
      async ({ lock }) => {
        const client = app().client;
        await client.store.set('k', 'v1');
        // Another tab's write that never finishes, as far as this tab can tell: it holds the lock and never lets go.
        let free!: () => void;
        const holding = new Promise<void>((granted) =>
          void navigator.locks.request(lock, () => {
            granted();
            return new Promise<void>((resolve) => (free = resolve));
          }),
        );
        await holding;
        const t0 = performance.now();
        const blocked = await app().settle(client.store.set('k', 'v2'), 60_000);
        const ms = performance.now() - t0;
        free();
        const after = await app().settle(client.store.get('k'), 10_000);
        const next = await app().settle(client.store.set('k', 'v3'), 10_000);
        const last = await app().settle(client.store.get('k'), 10_000);
        return { blocked, ms, after, next, last };
      },
      { lock: `feat-write:feat-userdb-${hexOf(user)}` },
    );
    // README "Nothing hangs": a write waits for the other tabs' writes at most 30 s, then fails with `timeout`.
    expect(result.blocked).toBe('rejected timeout');
    expect(result.ms).toBeGreaterThan(25_000);
    expect(result.ms).toBeLessThan(45_000);
    expect(result.after).toBe('resolved v1');
    expect(result.next).toBe('resolved value');
    expect(result.last).toBe('resolved v3');
  }, 120_000);

  // A device with no room left (the origin's quota set through CDP), found by a black-box attack.
  /** The origin's quota set to `bytes` (its storage touched first, so that the override applies). */
  async function quota(ctx: BrowserContext, page: Page, bytes: number) {
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const r = indexedDB.open('touch');
          r.onsuccess = () => (r.result.close(), resolve());
          r.onerror = () => reject(r.error);
        }),
    );
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: bytes });
    return {
      lift: () => cdp.send('Storage.overrideQuotaForOrigin', { origin }),
      set: (size: number) => cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: size }),
    };
  }

  it.concurrent('a new user on a full device: ready() rejects with storage_full in bounds (it waited forever), logout() settles, and after a reload with room the app starts', async () => {
    const user = userFor('full-new');
    const ctx = await harness.newContext();
    const page = await load(ctx, origin);
    const room = await quota(ctx, page, 1);
    const t0 = Date.now();
    const first = await page.evaluate((o) => app().settle(app().start(o), 45_000), { ...optionsFor(emu, user), requestTimeout: 5_000 });
    expect(first).toBe('rejected storage_full');
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(await page.evaluate(() => app().client.sync.status)).toBe('error');
    const logout = await page.evaluate(() => app().settle(app().client.logout({ destroyLocal: true }), 40_000));
    expect(logout).toMatch(/^(resolved|rejected timeout)/);
    await room.lift();
    await load(ctx, origin, page);
    expect(await page.evaluate((o) => app().settle(app().start(o).then(() => app().client.store.set('k', 'v')), 30_000), optionsFor(emu, user))).toBe('resolved value');
  }, 150_000);

  it.concurrent('a full device: a sorted query whose index cannot be made still answers (sorted in memory), createIndex rejects with storage_full, plain reads work; with room the index is made', async () => {
    const user = userFor('full-index');
    const ctx = await harness.newContext();
    const page = await load(ctx, origin);
    const room = await quota(ctx, page, 3 * 1024 * 1024);
    expect(await page.evaluate((o) => app().start(o).then(() => 'ok'), optionsFor(emu, user))).toBe('ok');
    const filled = await page.evaluate(async () => {
      const c = app().client;
      const pad = () => Array.from({ length: 2_000 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join('');
      for (let i = 0; i < 40; i++) await c.store.setParts('todos', { [`t${i}`]: { prio: i % 7, title: `t${i}`, pad: pad() } });
      let filled = '';
      for (let i = 0; i < 60 && !filled; i++) {
        const bytes = new Uint8Array(150_000);
        for (let k = 0; k < bytes.length; k += 65_536) crypto.getRandomValues(bytes.subarray(k, k + 65_536));
        filled = await c.store.set(`fill${i}`, Array.from(bytes, (b) => String.fromCharCode(33 + (b % 90))).join('')).then(() => '', (e: { code: string }) => e.code);
      }
      return filled;
    });
    // No room at all from here on. A failed 150 kB write may leave nearly that much free, and LevelDB's compaction
    // frees 100 kB and more at moments of its own: the quota goes down to 1 byte. Chromium approves writes from room it
    // was granted before (it asks the quota again only once that is used up): small writes use it up.
    await room.set(1);
    const r = await page.evaluate(async (filled) => {
      const c = app().client;
      let small = '';
      for (let i = 0; i < 40 && !small; i++) {
        const text = Array.from(crypto.getRandomValues(new Uint8Array(16_000)), (b) => String.fromCharCode(33 + (b % 90))).join('');
        small = await c.store.set(`small${i}`, text).then(() => '', (e: { code: string }) => e.code);
      }
      const s = (p: Promise<unknown>) => p.then((v) => `resolved ${String(v)}`, (e: { code: string }) => `rejected ${e.code}`);
      const sorted = await c.store.find({ prefix: 'todos', selector: { prio: { $gte: 3 } }, sort: ['prio'] }).catch(() => []);
      return {
        filled: small === 'storage_full' ? filled : `then ${small || 'room'}`,
        sortedInOrder: sorted.length === 22 && sorted.every((x, i) => i === 0 || (x.value as { prio: number }).prio >= (sorted[i - 1]!.value as { prio: number }).prio),
        createIndex: await s(c.store.createIndex({ fields: ['title'] })),
        plainFind: await s(c.store.find({ prefix: 'todos', selector: { prio: 2 } }).then((rs) => rs.length)),
        keys: await s(c.store.keys('todos').then((k) => k.length)),
      };
    }, filled);
    expect(r).toEqual({ filled: 'storage_full', sortedInOrder: true, createIndex: 'rejected storage_full', plainFind: 'resolved 6', keys: 'resolved 40' });
    await room.lift();
    expect(await page.evaluate(() => app().client.store.createIndex({ fields: ['title'] }).then(() => 'ok'))).toBe('ok');
  }, 120_000);

  it.concurrent('a full device: a first pull that keeps failing for lack of room reports storage_full once per episode, not once per retry', async () => {
    const user = userFor('full-once');
    const seeder = createFeatClient({ ...optionsFor(emu, user), local: { adapter: 'memory' } });
    await seeder.ready();
    // Incompressible: Chromium (≥ 129) compresses big IndexedDB values, and 6 MB of a repeating pattern fit in 3 MiB.
    const big = () => Array.from(randomBytes(150_000), (b) => String.fromCharCode(33 + (b % 90))).join('');
    await Promise.all(Array.from({ length: 40 }, (_, i) => seeder.store.set(`v${i}`, big())));
    await seeder.sync.waitForPush({ timeout: 30_000 });
    await seeder.close();
    const ctx = await harness.newContext();
    const page = await load(ctx, origin);
    await quota(ctx, page, 3 * 1024 * 1024);
    await page.evaluate((o) => app().start(o).then(() => 'ok', () => 'rejected'), optionsFor(emu, user));
    await new Promise((r) => setTimeout(r, 12_000));
    const seen = await page.evaluate(async () => ({ errors: app().seen.errors, full: (await app().client.storage()).full }));
    expect(seen.full).toBe(true);
    expect(seen.errors.filter((c) => c === 'storage_full')).toEqual(['storage_full']);
  }, 120_000);

  it('local.persist while the permission prompt stays unanswered (persist() never settles): ready() and storage() do not wait for it', async () => {
    const user = userFor('persist-prompt');
    const ctx = await context();
    const page = await load(ctx, origin);
    const result = await page.evaluate(async (options) => {
      const storage = navigator.storage as StorageManager & { persist(): Promise<boolean>; persisted(): Promise<boolean> };
      storage.persisted = () => Promise.resolve(false);
      storage.persist = () => new Promise<boolean>(() => undefined); // a prompt nobody answers
      const t0 = performance.now();
      await app().start({ ...options, local: { persist: true } });
      const info = await Promise.race([app().client.storage(), new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000))]);
      return { ms: performance.now() - t0, info };
    }, optionsFor(emu, user));
    expect(result.info).toMatchObject({ usage: expect.any(Number), quota: expect.any(Number) });
    expect(result.ms).toBeLessThan(8_000);
  }, 60_000);

  it('logout() without destroyLocal forgets the session: an offline start of the same user afterwards does not open the replica', async () => {
    const user = userFor('forget');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.set('kept', 'in the replica');
      await app().client.sync.waitForPush({ timeout: 10_000 });
      await app().client.logout();
    });
    // README "Starting offline": "The remembered session is per identity … and logout() forgets it"; API.md: logout
    // "also forgets the session".
    expect(await startWhileDown(ctx, page, user)).toBe('network');
    // Online again, the same user signs in and finds the data (the replica, or the server).
    await openApp(ctx, origin, emu, user, page);
    expect(await page.evaluate(() => app().client.store.get('kept'))).toBe('in the replica');
  }, 60_000);

  it('two users on one origin: one user\'s logout({ destroyLocal: true }) leaves the other\'s replica and offline start alone', async () => {
    const [alice, bob] = [userFor('alice'), userFor('bob')];
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, bob);
    await page.evaluate(async () => {
      await app().client.store.set('bob-note', 'bob was here');
      await app().client.sync.waitForPush({ timeout: 10_000 });
      await app().client.close();
    });
    await openApp(ctx, origin, emu, alice, page);
    await page.evaluate(async () => {
      await app().client.store.set('alice-note', 'alice was here');
      await app().client.logout({ destroyLocal: true });
    });
    // README "What it protects": "one account's replica from another account's offline start"; logout deletes "the
    // local replica" — this user's, nothing else.
    const stored = await dump(page);
    expect(stored).toContain('bob was here');
    expect(stored).not.toContain('alice was here');
    expect(await startWhileDown(ctx, page, bob, 'bob-note')).toEqual({ user: bob, value: 'bob was here' });
  }, 60_000);

  it('a reload in the middle of a set burst: every acknowledged write survives with its value, nothing read back is corrupt, all acknowledged reach the server', async () => {
    const user = userFor('burst');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    const acked = new Set<string>();
    await page.exposeFunction('ack', (key: string) => void acked.add(key));
    // API.md: set "resolves once durable (local replica…)"; README "Tips / Offline": "set resolves when the value is
    // in the local replica".
    await page.evaluate(() => {
      const value = (i: number) => ({ i, text: `value ${i} `.repeat(50) });
      for (let i = 0; i < 400; i++) void app().client.store.set(`b${i}`, value(i)).then(() => (self as unknown as { ack(k: string): void }).ack(`b${i}`));
    });
    // Reload once some (not all) writes are acknowledged.
    await until(async () => acked.size >= 40, 15_000, 'writes acknowledged');
    const ackedBeforeReload = new Set(acked);
    await openApp(ctx, origin, emu, user, page);
    const after = await page.evaluate(async () => {
      const keys = await app().client.store.keys('b');
      const values = await Promise.all(keys.map(async (k) => [k, await app().client.store.get(k)] as const));
      return Object.fromEntries(values);
    });
    console.log(`reload mid-burst: ${ackedBeforeReload.size} acknowledged before the reload, ${Object.keys(after).length} stored after`);
    for (const key of ackedBeforeReload) expect(after[key], `acknowledged ${key} lost`).toBeDefined();
    for (const [key, value] of Object.entries(after)) {
      const i = Number(key.slice(1));
      expect(value, `${key} corrupt`).toEqual({ i, text: `value ${i} `.repeat(50) });
    }
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    const onServer = await readOnServer(emu, user, Object.keys(after), 5_000);
    expect(Object.keys(onServer).length).toBe(Object.keys(after).length);
  }, 90_000);

  it('a reload while a big (chunked) value is being replaced: the value read after is the old or the new one, never torn; the server converges on it', async () => {
    const user = userFor('chunks');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    // README: "A value or part too big … is stored transparently across several documents; a reader never sees a torn or
    // mixed value" (API.md, the same).
    // About 1.4 MB: over one request body (README: "min of maxDocumentBytes and maxRequestBytes, minus 64 KiB"), so chunked.
    const big = (tag: string) => Array.from({ length: 150_000 }, (_, i) => `${tag}${i}`).join(' ');
    await page.evaluate(async (old) => {
      await app().client.store.set('big', old);
      await app().client.sync.waitForPush({ timeout: 20_000 });
    }, big('old'));
    for (const delay of [0, 30, 120]) {
      await page.evaluate((next) => void app().client.store.set('big', next).catch(() => undefined), big(`new${delay}-`));
      await new Promise((resolve) => setTimeout(resolve, delay));
      await openApp(ctx, origin, emu, user, page);
      const got = await page.evaluate(() => app().client.store.get('big').then((v) => (typeof v === 'string' ? v.slice(0, 12) + '…' + v.length : v), (e: { code: string }) => `rejected ${e.code}`));
      const expected = [big('old'), big(`new${delay}-`)].map((v) => v.slice(0, 12) + '…' + v.length);
      // A previous round's new value is also an acknowledged-or-not earlier state.
      const earlier = [0, 30, 120].filter((d) => d < delay).map((d) => big(`new${d}-`).slice(0, 12) + '…' + big(`new${d}-`).length);
      expect([...expected, ...earlier], `after a reload ${delay} ms into the write`).toContain(got);
      await page.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
      const local = await page.evaluate(() => app().client.store.get('big'));
      expect((await readOnServer(emu, user, ['big'])).big === local, 'the server holds what the tab reads').toBe(true);
    }
  }, 90_000);

  it('an offline reload: the app starts from the replica, reads, writes; back online the server gets the write', async () => {
    const user = userFor('offline');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.set('draft', 'synced before');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    // README "Starting offline": "a device whose replica synced before opens it at once in ready() (status connecting,
    // then offline until the server answers; then sync catches up)". "Offline": "writes succeed with no network,
    // status turns offline, pending() grows, and everything is pushed when the server is back".
    await emu.suspend();
    let resumed = false;
    try {
      // Written offline before the reload, so never pushed: README "A full device": "a later start rescans from the
      // last checkpoint it kept"; "Offline": "everything is pushed when the server is back".
      await page.evaluate(() => app().client.store.set('before-reload', 'written offline, then reloaded'));
      await load(ctx, origin, page);
      const started = await page.evaluate(async (options) => {
        const t0 = Date.now();
        const { session } = await app().start(options);
        const readyMs = Date.now() - t0;
        const before = await app().client.store.get('draft');
        await app().client.store.set('draft', 'edited offline');
        return { user: session.userName, readyMs, before, pending: await app().client.sync.pending() };
      }, optionsFor(emu, user));
      expect(started.user).toBe(user);
      expect(started.before).toBe('synced before');
      expect(started.pending).toBeGreaterThanOrEqual(1);
      expect(started.readyMs, 'ready() opened the synced replica at once').toBeLessThan(5_000);
      await expect.poll(() => page.evaluate(() => app().client.sync.status), { timeout: 20_000 }).toBe('offline');
      await emu.resume();
      resumed = true;
    } finally {
      if (!resumed) await emu.resume();
    }
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 30_000 }));
    expect(await readOnServer(emu, user, ['draft', 'before-reload'])).toEqual({ draft: 'edited offline', 'before-reload': 'written offline, then reloaded' });
    await expect.poll(() => page.evaluate(() => app().client.sync.status), { timeout: 20_000 }).toBe('idle');
  }, 90_000);

  it('TTL across a reload: an expired value reads as undefined and leaves keys(), also offline', async () => {
    const user = userFor('ttl');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    // README "Store": "set(key, value, { ttl: 60_000 }) — the value reads as undefined (and leaves keys()) ttl ms after
    // the write".
    await page.evaluate(async () => {
      await app().client.store.set('t-short', 'gone soon', { ttl: 1_500 });
      await app().client.store.set('t-long', 'stays', { ttl: 600_000 });
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    await new Promise((resolve) => setTimeout(resolve, 1_700));
    await emu.suspend();
    try {
      await openApp(ctx, origin, emu, user, page);
      const after = await page.evaluate(async () => ({
        short: await app().client.store.get('t-short'),
        long: await app().client.store.get('t-long'),
        keys: await app().client.store.keys('t-'),
        item: await app().client.store.getItem('t-short'),
      }));
      expect(after).toEqual({ short: undefined, long: 'stays', keys: ['t-long'], item: null });
    } finally {
      await emu.resume();
    }
  }, 60_000);

  it('logout({ destroyLocal: true }) offline, with unpushed writes: it resolves promptly and leaves nothing; online again the server has none of them', async () => {
    const user = userFor('offline-destroy');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await ctx.setOffline(true);
    try {
      await until(() => page.evaluate(() => app().client.sync.status === 'offline'), 5_000, 'offline');
      // README "Tips / Offline": "logout({ destroyLocal: true }) also deletes the replica, unpushed writes included";
      // "Nothing hangs": close()/logout() are bounded — and a local-first write is finished once in the replica.
      const took = await page.evaluate(async () => {
        await app().client.store.set('unpushed', 'never to be seen');
        const t0 = Date.now();
        await app().client.logout({ destroyLocal: true });
        return Date.now() - t0;
      });
      expect(took).toBeLessThan(5_000);
      const stored = await dump(page);
      expect(stored).not.toContain('never to be seen');
      expect(stored).not.toContain(hexOf(user));
    } finally {
      await ctx.setOffline(false);
    }
    const device = createFeatClient({ ...optionsFor(emu, user), local: { adapter: 'memory' } });
    try {
      await device.ready();
      expect(await device.store.get('unpushed')).toBeUndefined();
    } finally {
      await device.close();
    }
  }, 60_000);

  it('a brand-new device offline in the browser: ready() rejects with network at once (no hang), and succeeds when called again online', async () => {
    const user = userFor('new-offline');
    const ctx = await context();
    const page = await load(ctx, origin);
    await ctx.setOffline(true);
    let code: unknown;
    try {
      // README "Starting offline": "A brand-new device signing in with auth has nothing local and cannot learn its
      // database offline: ready() rejects with network; call it again when the browser is back online."
      code = await page.evaluate(
        (options) =>
          Promise.race([
            app().start(options).then(() => 'ready', (e: { code: string }) => e.code),
            new Promise((resolve) => setTimeout(() => resolve('hung for 10 s'), 10_000)),
          ]),
        optionsFor(emu, user),
      );
    } finally {
      await ctx.setOffline(false);
    }
    expect(code).toBe('network');
    // API.md: "a failed ready() may be retried".
    const session = await page.evaluate(() => app().client.ready());
    expect(session.userName).toBe(user);
    await page.evaluate(async () => {
      await app().client.store.set('first', 'after all');
      await app().client.sync.waitForPush({ timeout: 10_000 });
    });
    expect(await readOnServer(emu, user, ['first'])).toEqual({ first: 'after all' });
  }, 60_000);

  it("the site's data cleared under a running client: storage_lost once (error event, status error), every call says so, logout works, a reload goes on from the server", async () => {
    const user = userFor('cleared');
    const ctx = await context();
    const { page } = await openApp(ctx, origin, emu, user);
    await page.evaluate(async () => {
      await app().client.store.set('a', 1);
      await app().client.store.set('b', { deep: [2] });
      await app().settled(15_000);
    });
    const listed = () => page.evaluate(async () => (await indexedDB.databases()).filter((d) => d.name?.includes('feat-')).map((d) => `${d.name}@${d.version}`));
    const before = await listed();
    expect(before.length).toBeGreaterThan(0);
    // What DevTools' "Clear site data" and the browser's settings do: IndexedDB closes the open connections.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb,local_storage' });
    // The command may answer before IndexedDB has deleted the databases and closed the connections: calls made before
    // that are calls made before the clear, and succeed. The test's calls come after it. (A call of the client's own
    // landing in that moment may open a new, empty database under the old name — one of another version, which the
    // client takes for the loss, device-storage.ts `reopenAsItIs`: what was there before is gone all the same.)
    await expect.poll(async () => (await listed()).filter((d) => before.includes(d)), { timeout: 20_000, interval: 100 }).toEqual([]);
    const after = await page.evaluate(async () => {
      const c = app().client;
      const codes = [];
      for (const call of [() => c.store.get('a'), () => c.store.set('c', 3), () => c.store.keys(), () => c.sync.pending()]) {
        codes.push(await app().settle(call() as Promise<unknown>, 10_000));
      }
      // The guard's report is made once, whatever else still runs (the watch's feed, sync's loops) in the next seconds.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      codes.push(await app().settle(c.store.get('b'), 10_000));
      return { codes, status: c.sync.status, errors: app().seen.errors, logout: await app().settle(c.logout({ destroyLocal: true }).then(() => 'ok'), 15_000) };
    });
    expect(after.codes).toEqual(Array(5).fill('rejected storage_lost'));
    expect(after.errors).toEqual(['storage_lost']);
    expect(after.status).toBe('error');
    expect(after.logout).toBe('resolved ok');
    // Another client in the same page cannot open it (PouchDB's adapter keeps the failed open): storage_lost, promptly.
    expect(await page.evaluate((options) => app().settle(app().start(options), 15_000), optionsFor(emu, user))).toBe('rejected storage_lost');
    // After a reload the device starts again from the server: nothing that had reached it is lost.
    await openApp(ctx, origin, emu, user, page);
    expect(await page.evaluate(async () => [await app().client.store.get('a'), await app().client.store.get('b')])).toEqual([1, { deep: [2] }]);
    await page.evaluate(() => app().client.close());
  }, 90_000);
});
