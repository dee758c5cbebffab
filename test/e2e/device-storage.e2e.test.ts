/**
 * What the device keeps, in real Chromium (issue #23): the SDK bundled by esbuild, served statically, synced through
 * the emulator.
 *
 * - In a Web Worker (IndexedDB, no localStorage), a replica that synced before starts offline; nothing in IndexedDB
 *   or localStorage holds the bearer or a common digest of it.
 * - The origin's quota cut to 4 MiB through the DevTools protocol (`Storage.overrideQuotaForOrigin`): writes fail with
 *   `storage_full`, reads keep working (also after a reload), acknowledged writes reach the server, and writes work
 *   again once there is room — in the same page.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import { createHash } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';

warnIfNoChromium('the device-storage browser tests');

/** The page and the worker: the SDK as `self.feat`, and a tiny command runner for the worker. */
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">import * as feat from '/sdk.js'; self.feat = feat; self.loaded = true;</script>`;
const WORKER = `
import * as feat from '/sdk.js';
self.onmessage = async (event) => {
  const { couchUrl, accountsUrl, auth, write } = event.data;
  const client = feat.createFeatClient({ couchUrl, accountsUrl, auth });
  try {
    const session = await client.ready();
    if (write) {
      await client.store.set('from-worker', write);
      await client.sync.waitForPush({ timeout: 10000 });
    }
    const value = await client.store.get('from-worker');
    self.postMessage({ ok: true, session, value, hasLocalStorage: typeof localStorage !== 'undefined' });
  } catch (error) {
    self.postMessage({ ok: false, code: error.code, message: String(error.message) });
  } finally {
    await client.close();
  }
};`;

describe.skipIf(!hasChromium)('device storage in Chromium', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', PAGE], '/worker.js': ['text/javascript', WORKER] });
    ({ emu, origin } = harness);
  }, 60_000);

  afterAll(() => harness?.stop());

  async function open(context?: BrowserContext): Promise<Page> {
    const ctx = context ?? (await harness.newContext());
    const page = await ctx.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    return page;
  }

  /** Everything the origin keeps in IndexedDB and localStorage, as text. */
  const dumpStorage = (page: Page) =>
    page.evaluate(async () => {
      const out: string[] = [];
      for (let i = 0; i < localStorage.length; i++) out.push(`ls ${localStorage.key(i)}=${localStorage.getItem(localStorage.key(i)!)}`);
      for (const { name } of await indexedDB.databases()) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open(name!);
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        for (const store of Array.from(db.objectStoreNames)) {
          const rows = await new Promise<unknown[]>((resolve, reject) => {
            const request = db.transaction(store, 'readonly').objectStore(store).getAll();
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
          });
          out.push(`${name}/${store} ${JSON.stringify(rows)}`);
        }
        db.close();
      }
      return out.join('\n');
    });

  it('a Web Worker starts offline from a replica that synced before; nothing stored holds the bearer or its digests', async () => {
    const user = `worker-${Date.now().toString(36)}`;
    const auth = emu.bearerFor(user);
    const page = await open();
    const runInWorker = (write?: string) =>
      page.evaluate(
        (data) =>
          new Promise<Record<string, unknown>>((resolve) => {
            const worker = new Worker('/worker.js', { type: 'module' });
            worker.onmessage = (event) => {
              resolve(event.data as Record<string, unknown>);
              worker.terminate();
            };
            worker.postMessage(data);
          }),
        { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth, ...(write ? { write } : {}) },
      );
    const first = await runInWorker('written in a worker');
    expect(first).toMatchObject({ ok: true, value: 'written in a worker', hasLocalStorage: false });

    await emu.suspend();
    try {
      const offline = await runInWorker();
      expect(offline).toMatchObject({ ok: true, session: { userName: user }, value: 'written in a worker' });
      // Another user's bearer finds nothing.
      const other = await page.evaluate(
        (data) =>
          new Promise<Record<string, unknown>>((resolve) => {
            const worker = new Worker('/worker.js', { type: 'module' });
            worker.onmessage = (event) => resolve(event.data as Record<string, unknown>);
            worker.postMessage(data);
          }),
        { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(`${user}-other`) },
      );
      expect(other).toMatchObject({ ok: false, code: 'network' });
    } finally {
      await emu.resume();
    }

    const stored = await dumpStorage(page);
    expect(stored).toContain('written in a worker');
    expect(stored).toContain('_pouch_feat-sessions');
    const token = auth.slice('Bearer '.length);
    const needles = [auth, token];
    for (const secret of [auth, token]) {
      for (const algorithm of ['md5', 'sha1', 'sha256']) {
        const raw = createHash(algorithm).update(secret).digest();
        for (const encoding of ['hex', 'base64', 'base64url'] as const) needles.push(raw.toString(encoding).slice(0, 12));
      }
    }
    expect(needles.filter((n) => stored.includes(n))).toEqual([]);
  }, 60_000);

  it('a full quota: storage_full, reads keep working (also after a reload), acknowledged writes reach the server, room again → writes work', async () => {
    const user = `quota-${Date.now().toString(36)}`;
    const context = await harness.newContext();
    const page = await open(context);
    // The origin's quota cut to 4 MiB. Chromium applies the override once the origin's storage exists, to the
    // connections opened after it; navigator.storage.estimate() does not show it.
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const request = indexedDB.open('touch');
          request.onsuccess = () => {
            request.result.close();
            resolve();
          };
          request.onerror = () => reject(request.error);
        }),
    );
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 4 * 1024 * 1024 });
    expect(await cdp.send('Storage.getUsageAndQuota', { origin })).toMatchObject({ quota: 4 * 1024 * 1024, overrideActive: true });

    await page.evaluate(
      async ({ couchUrl, accountsUrl, auth }) => {
        const { createFeatClient: create } = (self as unknown as { feat: { createFeatClient: typeof createFeatClient } }).feat;
        const client = create({ couchUrl, accountsUrl, auth, local: { persist: true } });
        (self as unknown as { client: unknown }).client = client;
        const errors: string[] = [];
        const statuses: string[] = [];
        client.sync.on('error', (e) => errors.push(e.code));
        client.sync.on('status', (s) => statuses.push(s));
        (self as unknown as { seen: unknown }).seen = { errors, statuses };
        await client.ready();
      },
      { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) },
    );
    const result = await page.evaluate(
      async () => {
        const client = (self as unknown as { client: ReturnType<typeof createFeatClient> }).client;
        // Incompressible (Chromium compresses IndexedDB values): random text, kept to check what is read back.
        const values = new Map<number, string>();
        const big = (i: number) => {
          if (!values.has(i)) {
            const bytes = new Uint8Array(150_000);
            for (let k = 0; k < bytes.length; k += 65_536) crypto.getRandomValues(bytes.subarray(k, k + 65_536));
            values.set(i, `${i}:` + Array.from(bytes, (b) => String.fromCharCode(33 + (b % 90))).join(''));
          }
          return values.get(i)!;
        };
        const acked: string[] = [];
        let failure: { code: string; message: string; cause?: string | undefined } | undefined;
        for (let i = 0; i < 60 && !failure; i++) {
          try {
            await client.store.set(`big${i}`, big(i));
            acked.push(`big${i}`);
          } catch (error) {
            const cause = (error as { cause?: Record<string, unknown> }).cause;
            failure = { code: (error as { code: string }).code, message: String((error as Error).message), cause: cause && JSON.stringify(cause, Object.getOwnPropertyNames(cause)) + ' ' + String(cause.constructor?.name) + ' ' + String(cause.error) };
          }
        }
        // Right after the failure: a later write that succeeds (the device has room again) clears `full`.
        const storage = await client.storage();
        let readable = 0;
        for (const key of acked) if ((await client.store.get(key)) === big(Number(key.slice(3)))) readable++;
        return { acked, failure, readable, storage };
      },
    );
    expect(result.failure, 'the quota never filled up').toBeDefined();
    expect(result.failure!.code, result.failure!.cause).toBe('storage_full');
    expect(result.failure!.message).toMatch(/out of storage space/);
    expect(result.acked.length).toBeGreaterThan(3);
    expect(result.readable).toBe(result.acked.length);
    expect(typeof result.storage.quota).toBe('number');
    expect(typeof result.storage.usage).toBe('number');
    expect(typeof result.storage.persisted).toBe('boolean');
    expect(result.storage.full).toBe(true);
    await expect
      .poll(() => page.evaluate(() => (self as unknown as { seen: { errors: string[] } }).seen.errors), { timeout: 10_000 })
      .toContain('storage_full');
    const codes = await page.evaluate(() => (self as unknown as { seen: { errors: string[] } }).seen.errors);
    expect(codes).not.toContain('server');
    expect(codes).not.toContain('bad_response');

    // Every acknowledged write reaches the server.
    const check = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await check.ready();
      await expect.poll(async () => (await check.store.keys('big')).length, { timeout: 30_000 }).toBe(result.acked.length);
    } finally {
      await check.close();
    }

    // A reload on the full quota: every acknowledged value is still readable, and the quota is still full. Writes of
    // incompressible values (Chromium ≥ 129 compresses big IndexedDB values: 150 kB of one character takes 7 kB) until
    // one fails: what the failed write lacked room for, plus what LevelDB's compaction frees, may take one or two more;
    // five fitting would mean the quota no longer applies.
    await page.reload();
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    const afterReload = await page.evaluate(
      async ({ couchUrl, accountsUrl, auth, keys }) => {
        const { createFeatClient: create } = (self as unknown as { feat: { createFeatClient: typeof createFeatClient } }).feat;
        const client = create({ couchUrl, accountsUrl, auth });
        (self as unknown as { client: unknown }).client = client;
        client.sync.on('error', () => undefined);
        await client.ready();
        let readable = 0;
        for (const key of keys) if (typeof (await client.store.get(key)) === 'string') readable++;
        const more: string[] = [];
        let again = 'ok';
        for (let i = 0; i < 5 && again === 'ok'; i++) {
          const bytes = new Uint8Array(150_000);
          for (let k = 0; k < bytes.length; k += 65_536) crypto.getRandomValues(bytes.subarray(k, k + 65_536));
          const value = Array.from(bytes, (b) => String.fromCharCode(33 + (b % 90))).join('');
          again = await client.store.set(`more${i}`, value).then(
            () => 'ok',
            (e: { code: string }) => e.code,
          );
          if (again === 'ok') more.push(value);
        }
        let moreReadable = 0;
        for (const [i, value] of more.entries()) if ((await client.store.get(`more${i}`)) === value) moreReadable++;
        return { readable, again, more: more.length, moreReadable };
      },
      { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), keys: result.acked },
    );
    expect(afterReload.readable).toBe(result.acked.length);
    expect(afterReload.again).toBe('storage_full');
    expect(afterReload.more).toBeLessThan(3);
    expect(afterReload.moreReadable).toBe(afterReload.more);

    // Room again (the quota is lifted): the same page writes, without a reload.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    const recovered = await page.evaluate(async () => {
      const client = (self as unknown as { client: { store: { set(k: string, v: string): Promise<void>; get(k: string): Promise<unknown> } } }).client;
      await client.store.set('after-room', 'written');
      return client.store.get('after-room');
    });
    expect(recovered).toBe('written');
  }, 120_000);

  it('a replica the idb adapter made keeps opening with idb (new replicas use indexeddb)', async () => {
    const user = `idb-${Date.now().toString(36)}`;
    const page = await open();
    const adapters = await page.evaluate(
      async ({ couchUrl, accountsUrl, auth }) => {
        const { createFeatClient: create } = (self as unknown as { feat: { createFeatClient: typeof createFeatClient } }).feat;
        const before = create({ couchUrl, accountsUrl, auth, local: { adapter: 'idb' } });
        await before.ready();
        await before.store.set('kept', 'by idb');
        await before.close();
        const after = create({ couchUrl, accountsUrl, auth });
        await after.ready();
        const value = await after.store.get('kept');
        await after.close();
        const versions = Object.fromEntries((await indexedDB.databases()).map((d) => [d.name, d.version]));
        return { value, versions };
      },
      { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) },
    );
    expect(adapters.value).toBe('by idb');
    const hex = Buffer.from(user).toString('hex');
    // idb's schema version (5), not indexeddb's (≥ 10^13): the replica was not converted or replaced.
    expect(adapters.versions[`_pouch_feat-userdb-${hex}`]).toBeLessThan(1e13);
    expect(adapters.versions['_pouch_feat-sessions']).toBeGreaterThan(1e13);
  }, 60_000);
});
