/**
 * The page updates from v0.1.0 (35fe56d) in Chromium, offline: v0.1.0 kept its replica in IndexedDB (PouchDB's `idb`
 * adapter, named `feat-<dbName>`) and its last session in localStorage, `feat:last-session:<couchUrl>:<fingerprint>` =
 * `{ userName, dbName }`, besides the replica's `_local/feat-session` record. This state is fabricated in the page with
 * PouchDB in v0.1.0's exact shapes (test/support/legacy-replica.ts gives the fingerprint).
 *
 * Failed before: ready() rejected `network` (the localStorage entries were deleted, never carried over).
 */
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { pushDocs, sessionOf, v010Fingerprint } from '../support/legacy-replica.js';

warnIfNoChromium('the offline start on a v0.1.0 browser replica');

const PAGE = '<!doctype html><meta charset="utf-8"><title>v0.1.0 upgrade</title>';
/** PouchDB with the `idb` adapter (v0.1.0's default in browsers), to write the v0.1.0 replica. */
const POUCH = `import PouchDB from 'pouchdb-core'; import idb from 'pouchdb-adapter-idb'; PouchDB.plugin(idb); export default PouchDB;`;

type Loaded = (url: string) => Promise<{ default: unknown; createFeatClient: unknown }>;

describe.skipIf(!hasChromium)('browser: a v0.1.0 replica and localStorage entry, opened offline by the current bundle', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  beforeAll(async () => {
    const pouch = await build({ stdin: { contents: POUCH, resolveDir: process.cwd() }, bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'error' });
    harness = await startHarness({ '/': ['text/html', PAGE], '/pouch.js': ['text/javascript', pouch.outputFiles[0]!.text] });
    ({ emu, origin } = harness);
  }, 120_000);
  afterAll(() => harness?.stop());

  it('opens for the same credentials (not for another account), carries the session over, then pushes the pending write', async () => {
    const [alice, bob] = [`v010e-a-${Date.now().toString(36)}`, `v010e-b-${Date.now().toString(36)}`];
    const session = await sessionOf(emu, alice);
    await sessionOf(emu, bob);
    const auth = emu.bearerFor(alice);
    const page = await (await harness.newContext()).newPage();
    await page.goto(`${origin}/`);
    // v0.1.0's state: the replica (values, synced marker, session record) and the localStorage entry.
    const v010 = { ...session, fingerprint: v010Fingerprint(auth), key: `feat:last-session:${emu.couchUrl}:${v010Fingerprint(auth)}` };
    const synced = await page.evaluate(async (s) => {
      const PouchDB = (await (new Function('u', 'return import(u)') as Loaded)('/pouch.js')).default as new (name: string, o: object) => PouchDB.Database;
      const db = new PouchDB(`feat-${s.dbName}`, { adapter: 'idb' });
      const at = Date.now();
      await db.bulkDocs([
        { _id: 'synced', doc: 'on the server', feat: { updatedAt: at } },
        { _id: 'pending', doc: 'written offline', feat: { updatedAt: at } },
      ] as never[]);
      await db.put({ _id: '_local/feat-synced', at } as never);
      await db.put({ _id: '_local/feat-session', userName: s.userName, dbName: s.dbName, fingerprint: s.fingerprint } as never);
      localStorage.setItem(s.key, JSON.stringify({ userName: s.userName, dbName: s.dbName }));
      const doc = await db.get('synced', { revs: true });
      await db.close();
      return doc;
    }, v010);
    await pushDocs(emu, alice, [synced]);

    await emu.suspend();
    await page.reload();
    const start = (a: string) =>
      page.evaluate(
        async (o) => {
          const { createFeatClient: make } = await (new Function('u', 'return import(u)') as Loaded)('/sdk.js');
          const c = (make as typeof createFeatClient)(o);
          (self as unknown as { c: typeof c }).c = c;
          const ready = await Promise.race([
            c.ready().then(() => 'ok', (e: { code?: string }) => `rejected ${e.code}`),
            new Promise((r) => setTimeout(() => r('hang'), 20_000)),
          ]);
          if (ready !== 'ok') {
            await c.close();
            return { ready };
          }
          return { ready, synced: await c.store.get('synced'), pending: await c.store.get('pending'), count: await c.sync.pending() };
        },
        { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: a, requestTimeout: 3_000, maintenance: { enabled: false } },
      );
    const other = await start(emu.bearerFor(bob));
    const mine = await start(auth);
    const left = await page.evaluate((key) => localStorage.getItem(key), v010.key);
    expect(other).toEqual({ ready: 'rejected network' });
    expect(mine).toEqual({ ready: 'ok', synced: 'on the server', pending: 'written offline', count: expect.any(Number) });
    expect(mine.count).toBeGreaterThanOrEqual(1);
    // The unsalted digest of the Authorization value is gone from localStorage.
    expect(left).toBeNull();

    // Carried over: the next offline start finds it the current way.
    await page.evaluate(() => (self as unknown as { c: { close(): Promise<void> } }).c.close());
    await page.reload();
    expect(await start(auth)).toMatchObject({ ready: 'ok', pending: 'written offline' });

    await emu.resume();
    await page.evaluate(() => (self as unknown as { c: { sync: { waitForPush(o: object): Promise<void> } } }).c.sync.waitForPush({ timeout: 30_000 }));
    const reader = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth, mode: 'remote' });
    const onServer = await reader.store.get('pending');
    await reader.close();
    expect(onServer).toBe('written offline');
  }, 180_000);
});
