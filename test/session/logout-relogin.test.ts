/**
 * A logout not awaited, then at once a new client (found by the account-switching attack): `logout({ destroyLocal:
 * true })` was deleting the replica while the new client opened it — the same account signing in again hung, or its
 * first write failed `bad_response` ("database is closed") and later calls hung (10 of 10 runs); another account on a
 * replica the app named was refused, and A's deletion failed `timeout`, leaving A's data on the device for good (5 of 5).
 * A local-first start now waits for the logouts under way in its process when the client was made, bounded. The
 * review of that: a logout of a client still waiting deleted nothing; two clients logging out in one tick waited for
 * each other 20 s; close() left ready() waiting. Node, leveldb.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PouchDB from 'pouchdb-core';
import LevelAdapter from 'pouchdb-adapter-leveldb';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, valueOnServer } from '../support/backend.js';

PouchDB.plugin(LevelAdapter);
const emu = useEmulator();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const replicaPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'feat-relogin-'));
  dirs.push(d);
  return join(d, 'app');
};

/** How a call settles within 20 s: 'ok', the FeatError code, 'untyped …' or 'still waiting'. */
const outcome = (p: Promise<unknown>, ms = 20_000): Promise<string> =>
  Promise.race([p.then(() => 'ok', (e: unknown) => (isFeatError(e) ? e.code : `untyped ${String(e)}`)), sleep(ms).then(() => 'still waiting')]);

const clientOf = (user: string, name: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name }, ...extra }));

const onServer = (user: string, key: string) => valueOnServer(emu, user, key);

async function idsOnDevice(name: string): Promise<string[]> {
  const raw = new PouchDB(name, { adapter: 'leveldb' });
  try {
    return (await raw.allDocs()).rows.map((r) => r.id).filter((id) => !id.startsWith('_'));
  } finally {
    await raw.close();
  }
}

/** A logout({ destroyLocal: true }) of `user` (a client never started) that takes `ms`: its auth provider answers that late. */
function slowLogout(user: string, ms: number): Promise<string> {
  const bearer = emu.bearerFor(user);
  return outcome(clientOf(user, replicaPath(), { auth: () => sleep(ms).then(() => bearer) }).logout({ destroyLocal: true }));
}

/**
 * `user` signs in on replica `name`, writes `old` and pushes it, then logs out with `destroyLocal` (not awaited), and
 * `next` signs in at once on the same replica and writes `key`: how the three calls settle.
 */
async function destroyThenSignIn(user: string, name: string, next: string, key: string, value: string) {
  const a = clientOf(user, name);
  await a.ready();
  await a.store.set('old', 'A-old');
  await a.sync.waitForPush({ timeout: 30_000 });
  const destroyed = outcome(a.logout({ destroyLocal: true }));
  const client = clientOf(next, name);
  const ready = outcome(client.ready());
  const write = outcome(client.store.set(key, value));
  return { client, settled: { destroyed: await destroyed, ready: await ready, write: await write } };
}

describe('a new client right after a logout not awaited', () => {
  it('the same account on the same replica: its start waits for the deletion, then works (writes read back and pushed)', async () => {
    const alice = uniqueUser('relogin');
    const { client: again, settled } = await destroyThenSignIn(alice, replicaPath(), alice, 'new', 'A2-new');
    expect(settled).toEqual({ destroyed: 'ok', ready: 'ok', write: 'ok' });
    expect(await again.store.get('new')).toBe('A2-new');
    // The deleted replica is made again and pulls the account's data from the server.
    expect(await again.store.get('old')).toBe('A-old');
    await again.sync.waitForPush({ timeout: 30_000 });
    expect(await onServer(alice, 'new')).toBe('A2-new');
  }, 90_000);

  it('another account on a replica the app named: A’s deletion finishes (nothing of A left), B opens a new replica and works', async () => {
    const [alice, bob] = [uniqueUser('relogin-a'), uniqueUser('relogin-b')];
    const name = replicaPath();
    const { client: b, settled } = await destroyThenSignIn(alice, name, bob, 'bkey', 'B');
    expect(settled).toEqual({ destroyed: 'ok', ready: 'ok', write: 'ok' });
    expect(await b.store.get('old')).toBeUndefined();
    await b.sync.waitForPush({ timeout: 30_000 });
    await b.close();
    expect(await idsOnDevice(name)).toEqual(['bkey']);
    expect(await onServer(bob, 'bkey')).toBe('B');
    expect(await onServer(alice, 'bkey')).toBeUndefined();
  }, 90_000);

  it("a client's own logout while its start waits for another's: no wait on itself (A→B→A, nothing awaited)", async () => {
    const [alice, bob] = [uniqueUser('relogin-a'), uniqueUser('relogin-b')];
    const [nameA, nameB] = [replicaPath(), replicaPath()];
    const a = clientOf(alice, nameA);
    await a.ready();
    const t0 = performance.now();
    const aWrite = outcome(a.store.set('k', 'A'));
    const aOut = outcome(a.logout());
    const b = clientOf(bob, nameB);
    const bWrite = outcome(b.store.set('k', 'B'));
    const bOut = outcome(b.logout());
    const a2 = clientOf(alice, nameA);
    const a2Get = a2.store.get('k');
    expect({ aWrite: await aWrite, aOut: await aOut, bWrite: await bWrite, bOut: await bOut }).toEqual({ aWrite: 'ok', aOut: 'ok', bWrite: 'ok', bOut: 'ok' });
    expect(await a2Get).toBe('A');
    // (Waiting on its own logout, B's start held everything for the 20 s bound.)
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 60_000);

  it('logout({ destroyLocal }) of a client whose start waits for another logout deletes its replica', async () => {
    const [alice, bob] = [uniqueUser('relogin-a'), uniqueUser('relogin-b')];
    const nameA = replicaPath();
    const a0 = clientOf(alice, nameA);
    await a0.ready();
    await a0.store.set('secret', 'A');
    await a0.sync.waitForPush({ timeout: 30_000 });
    await a0.close();
    expect(await idsOnDevice(nameA)).toEqual(['secret']);
    // Bob's logout (never started: the wipe asks a slow auth provider) takes ~6 s.
    const cOut = slowLogout(bob, 6_000);
    // Alice signs in on this device, and signs out at once, deleting what the device holds.
    const a = clientOf(alice, nameA);
    const aReady = outcome(a.ready());
    await sleep(300);
    const aOut = await outcome(a.logout({ destroyLocal: true }));
    expect({ aOut, cOut: await cOut }).toEqual({ aOut: 'ok', cOut: 'ok' });
    expect(['ok', 'closed']).toContain(await aReady);
    expect(await idsOnDevice(nameA)).toEqual([]);
  }, 60_000);

  it('two clients each writing then logging out in the same tick: no 20 s deadlock', async () => {
    const [alice, bob] = [uniqueUser('relogin-c'), uniqueUser('relogin-d')];
    const a = clientOf(alice, replicaPath());
    const b = clientOf(bob, replicaPath());
    const t0 = performance.now();
    const aw = outcome(a.store.set('k', 'A'));
    const bw = outcome(b.store.set('k', 'B'));
    const ao = outcome(a.logout());
    const bo = outcome(b.logout());
    expect({ aw: await aw, bw: await bw, ao: await ao, bo: await bo }).toEqual({ aw: 'ok', bw: 'ok', ao: 'ok', bo: 'ok' });
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 60_000);

  it('close() while the start waits for another logout: close() does not wait for that logout', async () => {
    const [alice, bob] = [uniqueUser('relogin-e'), uniqueUser('relogin-f')];
    const cOut = slowLogout(bob, 8_000);
    const a = clientOf(alice, replicaPath());
    const aReady = outcome(a.ready());
    await sleep(300);
    const t0 = performance.now();
    const closed = await outcome(a.close());
    const closeTook = performance.now() - t0;
    const readyAt = await aReady;
    const readyTook = performance.now() - t0;
    expect(closed).toBe('ok');
    expect(['ok', 'closed']).toContain(readyAt);
    // ready() of a closed client rejects `closed` at once, not when another client's logout ends.
    expect({ close: closeTook < 3_000, ready: readyTook < 3_000 }).toEqual({ close: true, ready: true });
    await cOut;
  }, 60_000);

  it('a memory replica (this client’s alone) does not wait for another client’s logout', async () => {
    const [alice, bob] = [uniqueUser('relogin-m'), uniqueUser('relogin-n')];
    const cOut = slowLogout(bob, 6_000);
    const a = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(alice), local: { adapter: 'memory' } }));
    const t0 = performance.now();
    await a.ready();
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(await cOut).toBe('ok');
  }, 30_000);
});
