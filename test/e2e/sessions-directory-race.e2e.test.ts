/**
 * Two users' clients in two tabs of one origin start and log out at the same moment. Both use the shared
 * `feat-sessions` directory, an `indexeddb`-adapter database: each open bumps its version, which closes the other
 * tabs' connections (their transaction failed "The database connection is closing") or refuses an open made a moment
 * before ("The requested version … is less than the existing version"): logout() rejected `bad_response` and left the
 * session remembered. Every logout() now resolves (or rejects `timeout`, the one failure README allows) and the
 * session is forgotten: an offline start no longer opens the replica. Real Chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, load, optionsFor, type App } from '../attack/browser-page.js';

warnIfNoChromium('the sessions-directory race browser tests');
/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

const ROUNDS = 12;

describe.skipIf(!hasChromium)('the sessions directory used by two tabs at once', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  /** The directory's entries, as text (the user names appear hex-encoded in them). */
  const directory = (page: Page) =>
    page.evaluate(async () => {
      if (!(await indexedDB.databases()).some((d) => d.name === '_pouch_feat-sessions')) return '';
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('_pouch_feat-sessions');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      // Closed when another connection bumps the version (as PouchDB's own connections are).
      db.onversionchange = () => db.close();
      const out: string[] = [];
      for (const store of Array.from(db.objectStoreNames)) {
        const rows = await new Promise<unknown[]>((resolve, reject) => {
          const r = db.transaction(store, 'readonly').objectStore(store).getAll();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        out.push(`${store} ${JSON.stringify(rows)}`);
      }
      db.close();
      return out.join('\n');
    });

  it(`concurrent ready() and logout() of two users in two tabs (${ROUNDS} rounds): every logout forgets its session`, async () => {
    const ctx = await harness.newContext();
    const tabs = [await load(ctx, harness.origin), await load(ctx, harness.origin)];
    const bad: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const users = tabs.map((_, i) => `sdr${i}-${run}-${round}`);
      const started = await Promise.all(tabs.map((p, i) => p.evaluate((o) => app().settle(app().start(o), 30_000), optionsFor(emu, users[i]!))));
      await Promise.all(tabs.map((p) => p.evaluate((r) => app().client.store.set('k', r), round)));
      const destroyLocal = round % 2 === 1;
      const logouts = await Promise.all(tabs.map((p) => p.evaluate((d) => app().settle(app().client.logout({ destroyLocal: d }).then(() => 'ok'), 30_000), destroyLocal)));
      const left = await directory(tabs[0]!);
      tabs.forEach((_, i) => {
        const remembered = left.includes(Buffer.from(users[i]!).toString('hex'));
        if (started[i] !== 'resolved value' || logouts[i] !== 'resolved ok' || remembered) {
          bad.push(`round ${round} (destroyLocal ${destroyLocal}) tab ${i}: ready ${started[i]}, logout ${logouts[i]}, session remembered ${remembered}`);
        }
      });
    }
    await ctx.close();
    expect(bad).toEqual([]);
  }, 300_000);

  it('a tab whose use of the directory never answers does not hold the others up past its bound', async () => {
    const ctx = await harness.newContext();
    const [stuck, other] = [await load(ctx, harness.origin), await load(ctx, harness.origin)];
    const users = [`sdr-stuck-${run}`, `sdr-other-${run}`];
    await stuck.evaluate((o) => app().start(o), optionsFor(emu, users[0]!));
    await other.evaluate((o) => app().start(o), optionsFor(emu, users[1]!));
    // In the stuck tab, every read of the directory has its transaction aborted: PouchDB never answers it.
    await stuck.evaluate(() => {
      const get = IDBObjectStore.prototype.get;
      IDBObjectStore.prototype.get = function (this: IDBObjectStore, query: IDBValidKey | IDBKeyRange) {
        const request = get.call(this, query);
        if (this.transaction.db.name === '_pouch_feat-sessions') {
          const transaction = this.transaction;
          request.addEventListener('success', () => transaction.abort(), { once: true });
        }
        return request;
      };
    });
    const stuckLogout = stuck.evaluate(() => app().settle(app().client.logout().then(() => 'ok'), 30_000));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const otherLogout = await other.evaluate(() => app().settle(app().client.logout().then(() => 'ok'), 30_000));
    const took = Date.now() - t0;
    expect(await stuckLogout).toBe('rejected timeout');
    expect(otherLogout).toBe('resolved ok');
    expect(took).toBeLessThan(15_000);
    expect((await directory(other)).includes(Buffer.from(users[1]!).toString('hex'))).toBe(false);
    await ctx.close();
  }, 90_000);
});
