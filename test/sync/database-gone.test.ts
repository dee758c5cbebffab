/**
 * The user's database gone from the server under a running client, with its account (src/session/database-gone.ts):
 * an emulator restarted without its data (`npx feat-emulator` without `--data`), or, on the real server, an admin who
 * deleted the user and their database. A start signs the user up and waits for the database; a running client now
 * does the same when a request meets `404 "Database does not exist."`, so that live sync and remote calls carry on as
 * after a reload (they stayed `error` / `not_found` on every call until the app was reloaded).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { ON_REAL } from '../support/target.js';

const SECRET = 'database-gone-secret';
const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function clientOf(on: Emulator, user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 5_000, ...extra });
  cleanups.push(() => c.close().catch(() => undefined));
  return c;
}

async function serverValues(on: Emulator, user: string): Promise<Record<string, unknown>> {
  const reader = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), mode: 'remote' });
  try {
    const out: Record<string, unknown> = {};
    for (const key of await reader.store.keys()) out[key] = await reader.store.get(key);
    return out;
  } finally {
    await reader.close();
  }
}

/** Takes the user's account and database off the server, as the backend at hand can. Returns the emulator to use next. */
type Remover = (on: Emulator, user: string, dbName: string) => Promise<Emulator>;

/** The emulator stopped and started again on the same ports and secret, in memory: the account and database are gone. */
const restartEmpty: Remover = async (on) => {
  await on.stop();
  const next = await startEmulator({ secret: SECRET, port: on.ports.couch, accountsPort: on.ports.accounts, apiPort: on.ports.api });
  cleanups.push(() => next.stop());
  return next;
};

/** The real server's admin deletes the user's document and their database (couch_peruser keeps it otherwise). */
const adminDeletes: Remover = async (on, user, dbName) => {
  const { adminFetch } = (await import('../support/real-emulator.js')) as unknown as { adminFetch(url: string, init?: RequestInit): Promise<Response> };
  const id = `${COUCH}/_users/${encodeURIComponent(`org.couchdb.user:${user}`)}`;
  const { _rev } = (await (await adminFetch(id)).json()) as { _rev: string };
  expect((await adminFetch(`${id}?rev=${_rev}`, { method: 'DELETE' })).status).toBeLessThan(300);
  expect((await adminFetch(`${COUCH}/${dbName}`, { method: 'DELETE' })).status).toBe(200);
  return on;
};

const start = async (): Promise<Emulator> => {
  const emu = await startEmulator({ port: 0, secret: SECRET });
  cleanups.push(() => emu.stop());
  return emu;
};

describe.each(ON_REAL ? [['deleted by the admin', adminDeletes] as const] : [['an emulator restarted in memory', restartEmpty] as const])(
  'the account and database gone under a running client: %s',
  (_name, remove) => {
    it('local-first: live sync signs up again and pushes everything back; writes made before, meanwhile and after reach the server', async () => {
      let emu = await start();
      const user = uniqueUser('gone-lf');
      const laptop = clientOf(emu, user);
      const errors: FeatError[] = [];
      laptop.sync.on('error', (e) => errors.push(e));
      const { dbName } = await laptop.ready();
      await laptop.store.set('before', 1);
      await laptop.sync.waitForPush({ timeout: 15_000 });
      emu = await remove(emu, user, dbName);
      await laptop.store.set('meanwhile', 2);
      // (No other client of the account until this one pushed: another one's start would sign the user up itself.)
      await laptop.store.set('after', 3);
      await laptop.sync.waitForPush({ timeout: 30_000 });
      expect(await serverValues(emu, user)).toEqual({ before: 1, meanwhile: 2, after: 3 });
      expect(await laptop.sync.pending()).toBe(0);
      await waitFor(() => laptop.sync.status === 'idle' || laptop.sync.status === 'active', 10_000, 'the status back to idle');
      for (const e of errors) expect(isFeatError(e)).toBe(true);
    }, 90_000);

    it('a device that only reads sees what another device wrote once the database was back (its read position is of the old database)', async () => {
      // (Emulator only, found by the attack of session 33: the new database's sequences started again at 1, and the
      // reader's position in the old one skipped the first writes of the new one. CouchDB's sequences name their
      // database's shards, so a position in an old database reads the new one from its start.)
      let emu = await start();
      const user = uniqueUser('gone-reader');
      const writer = clientOf(emu, user);
      const { dbName } = await writer.ready();
      await writer.store.set('before', 1);
      await writer.sync.waitForPush({ timeout: 15_000 });
      const reader = clientOf(emu, user);
      await reader.ready();
      await waitFor(async () => (await reader.store.get('before')) === 1, 15_000, 'the reader has the first value');
      emu = await remove(emu, user, dbName);
      await writer.store.set('later', 2);
      await writer.sync.waitForPush({ timeout: 30_000 });
      await writer.store.set('latest', 3);
      await writer.sync.waitForPush({ timeout: 30_000 });
      expect(await serverValues(emu, user)).toEqual({ before: 1, later: 2, latest: 3 });
      await waitFor(async () => (await reader.store.get('latest')) === 3 && (await reader.store.get('later')) === 2, 40_000, 'the reader has both later values');
    }, 120_000);

    it('remote: the next call signs up again and succeeds; the data written before is gone with the database, as the server says', async () => {
      let emu = await start();
      const user = uniqueUser('gone-remote');
      const c = clientOf(emu, user, { mode: 'remote' });
      const { dbName } = await c.ready();
      await c.store.set('before', 1);
      emu = await remove(emu, user, dbName);
      await c.store.set('after', 2);
      expect(await c.store.get('after')).toBe(2);
      expect(await c.store.get('before')).toBeUndefined();
      expect(await serverValues(emu, user)).toEqual({ after: 2 });
      expect(c.sync.status).toBe('idle');
    }, 60_000);
  },
);

describe.runIf(ON_REAL)('the database deleted while its user stays (real CouchDB, as its admin)', () => {
  it('a remote call says not_found, the failed attempt to make it again is an error event, and nothing waits past bootstrapTimeout', async () => {
    const emu = await start();
    const user = uniqueUser('gone-db-only');
    const c = clientOf(emu, user, { mode: 'remote', bootstrapTimeout: 2_000 });
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const { dbName } = await c.ready();
    await c.store.set('before', 1);
    const { adminFetch } = (await import('../support/real-emulator.js')) as unknown as { adminFetch(url: string, init?: RequestInit): Promise<Response> };
    expect((await adminFetch(`${COUCH}/${dbName}`, { method: 'DELETE' })).status).toBe(200);
    const t0 = performance.now();
    await expect(c.store.set('after', 2)).rejects.toMatchObject({ code: 'not_found' });
    expect(performance.now() - t0).toBeLessThan(15_000);
    await waitFor(() => errors.length > 0, 5_000, 'the failed attempt reported');
    expect(isFeatError(errors[0])).toBe(true);
    expect(errors[0]!.message).toContain('did not appear within 2000 ms');
    // Within the backoff, the next call does not try again: it fails at once.
    const t1 = performance.now();
    await expect(c.store.set('after', 2)).rejects.toMatchObject({ code: 'not_found' });
    expect(performance.now() - t1).toBeLessThan(2_000);
    // Honest: every call fails until the database is back.
    expect(c.sync.status).toBe('error');
  }, 60_000);
});

describe.runIf(!ON_REAL)('a local-first client started offline, reconnecting to a database deleted while its user stays', () => {
  // (The review of the fix: the reconnection's own bootstrap met the 404 and started a second one: two sign-ups and two
  // errors per attempt.)
  const emu = useEmulator();
  it('one reconnect attempt signs up once and reports one error', async () => {
    const u = uniqueUser('gone-reconnect');
    const name = uniqueUser('gone-replica');
    const first = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(u), local: { adapter: 'memory', name } });
    await first.ready();
    await first.store.set('a', 1);
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    const mode = { offline: true, gone: false };
    const log: string[] = [];
    const fetchFn: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const path = new URL(url).pathname;
      log.push(`${init?.method ?? 'GET'} ${path}`);
      if (/^\/userdb-/.test(path)) {
        if (mode.offline) throw new TypeError('fetch failed');
        // The database deleted while the user stays (real CouchDB: nothing makes it again).
        if (mode.gone) return new Response(JSON.stringify({ error: 'not_found', reason: 'Database does not exist.' }), { status: 404, headers: { 'content-type': 'application/json' } });
      }
      return fetch(input, init);
    };
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(u), local: { adapter: 'memory', name }, fetch: fetchFn, bootstrapTimeout: 3_000 });
    try {
      await c.ready(); // offline: the replica's session
      const errors: string[] = [];
      c.sync.on('error', (e) => errors.push(e.message));
      mode.offline = false;
      mode.gone = true;
      const mark = log.length;
      // Until the first reconnect attempt has failed (its error reported).
      const t0 = performance.now();
      while (errors.length === 0 && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      const signUps = log.slice(mark).filter((l) => l.startsWith('PUT /_users')).length;
      // (Measured: 2 sign-ups and 2 "did not appear within 3000 ms" errors for one reconnect attempt.)
      expect({ signUps, errors: errors.length }).toEqual({ signUps: 1, errors: 1 });
    } finally {
      await c.close();
    }
  }, 60_000);
});
