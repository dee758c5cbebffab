/**
 * feat-logout (Node, leveldb): logout({ destroyLocal: true }) of a client that never called ready(), on a `local.name`
 * replica every account shares (README: "only this account's: a local.name replica holding another account's data is
 * left alone").
 *
 * Failed before: "A deleted keys offline (only tombstones left …)" and "A is signed in right now (empty new account …)"
 * — an owner's replica counted as empty was deleted. The others confirm what held.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { codeOf, sharedReplicas } from '../support/shared-replica.js';
import PouchDB from 'pouchdb-core';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);

describe('shared local.name, never-ready logout({ destroyLocal: true }) of another account', () => {
  // Failed before: doc_count counts no deletions: a replica whose only unpushed changes are deletions looked "empty".
  it('A deleted keys offline (only tombstones left, not pushed): B\'s never-ready destroyLocal logout must leave A\'s replica alone; A\'s deletions reach the server', async () => {
    const [alice, bob] = [uniqueUser('l2-tomb-a'), uniqueUser('l2-tomb-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('secret', 'A wants this gone');
    await a.store.set('other', 'also gone');
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    await a.store.remove('secret');
    await a.store.remove('other');
    await a.logout();
    const bLogout = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    const a2 = clientOf(alice, name);
    const started = await codeOf(a2.ready());
    const secretAfter = started === 'ok' ? ((await a2.store.get('secret')) ?? null) : 'not started';
    if (started === 'ok') await a2.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    await a2.close();
    expect({ bLogout, started, secretAfter, onServer: await serverKeys(alice) }).toEqual({
      bLogout: 'ok',
      started: 'ok',
      secretAfter: null,
      onServer: [],
    });
  }, 90_000);

  // Failed before: A is signed in with the replica open and empty (new account); B's reset deleted it under A.
  it('A is signed in right now (empty new account, replica open): B\'s never-ready destroyLocal logout on the same name leaves A\'s live client working', async () => {
    const [alice, bob] = [uniqueUser('l2-live-a'), uniqueUser('l2-live-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    const bLogout = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    const write = await codeOf(a.store.set('after', 'A writes after B reset'));
    const read = write === 'ok' ? await a.store.get('after').catch((e) => `get failed ${String(e)}`) : null;
    await a.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    await a.close();
    const a2 = clientOf(alice, name);
    const started = await codeOf(a2.ready());
    const reread = started === 'ok' ? ((await a2.store.get('after')) ?? null) : null;
    await a2.close();
    expect({ bLogout, write, read, started, reread, onServer: await serverKeys(alice) }).toEqual({
      bLogout: 'ok',
      write: 'ok',
      read: 'A writes after B reset',
      started: 'ok',
      reread: 'A writes after B reset',
      onServer: ['after'],
    });
  }, 90_000);

  it('offline retry: B\'s never-ready logout rejects network with a message saying to retry online; retried online it resolves and A\'s replica survives', async () => {
    const [alice, bob] = [uniqueUser('l2-retry-a'), uniqueUser('l2-retry-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('k', 'A value');
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    await a.store.set('unpushed', 'A unpushed');
    await a.logout();
    const b = clientOf(bob, name);
    await emu.suspend();
    let first: unknown;
    try {
      first = await b.logout({ destroyLocal: true }).then(() => 'ok', (e: unknown) => e);
    } finally {
      await emu.resume();
    }
    const second = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    const a2 = clientOf(alice, name);
    await a2.ready();
    const v = await a2.store.get('unpushed');
    await a2.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    await a2.close();
    expect(isFeatError(first) ? first.code : first).toBe('network');
    expect((first as Error).message).toMatch(/again once online/);
    expect({ second, v, onServer: await serverKeys(alice) }).toEqual({ second: 'ok', v: 'A unpushed', onServer: ['k', 'unpushed'] });
  }, 90_000);

  it('A\'s own never-ready destroyLocal logout offline, after a plain logout (nothing on the device names A): rejects network, deletes nothing; retried online deletes', async () => {
    const alice = uniqueUser('l2-own-a');
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('k', 'v');
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    await a.store.set('unpushed', 'A unpushed');
    await a.logout();
    await emu.suspend();
    let first: string;
    try {
      first = await codeOf(clientOf(alice, name).logout({ destroyLocal: true }));
    } finally {
      await emu.resume();
    }
    // Not deleted: A reopens and still has the unpushed value (then logs out again, without pushing).
    const a2 = clientOf(alice, name);
    await emu.suspend();
    let offlineStart: string;
    try {
      offlineStart = await codeOf(a2.ready());
    } finally {
      await emu.resume();
    }
    await a2.close();
    const second = await codeOf(clientOf(alice, name).logout({ destroyLocal: true }));
    const a3 = clientOf(alice, name);
    await a3.ready();
    const left = await a3.store.get('unpushed');
    await a3.close();
    // The offline start is refused (logout forgot the session): network. What matters: first network, then retried ok and gone.
    expect({ first, offlineStart, second, left: left ?? null }).toEqual({ first: 'network', offlineStart: 'network', second: 'ok', left: null });
  }, 90_000);

  it('A is signed in right now with data (replica open): B\'s never-ready destroyLocal logout on the same name (not B\'s: left alone, closed again) leaves A\'s live client working', async () => {
    const [alice, bob] = [uniqueUser('l2-live2-a'), uniqueUser('l2-live2-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('first', 'A first');
    const bLogout = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    const write = await codeOf(a.store.set('after', 'A writes after B reset'));
    const read = await a.store.get('first').catch((e) => `get failed ${String(e)}`);
    await a.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    await a.close();
    expect({ bLogout, write, read, onServer: await serverKeys(alice) }).toEqual({
      bLogout: 'ok',
      write: 'ok',
      read: 'A first',
      onServer: ['after', 'first'],
    });
  }, 90_000);

  // Older replica (made before the owner record existed; simulated by removing `_local/feat-owner` with the app's own
  // PouchDB): judged by its session record while it has one — B's logout leaves it alone. Once A's plain logout removed
  // that record, nothing names A: see the next test.
  it('older replica (no owner record) with A\'s session record: B\'s never-ready destroyLocal logout leaves it alone', async () => {
    const [alice, bob] = [uniqueUser('l2-old-a'), uniqueUser('l2-old-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('k', 'A value');
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    await a.store.set('unpushed', 'A unpushed');
    await a.close();
    await dropOwner(name);
    const bLogout = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    const a2 = clientOf(alice, name);
    await a2.ready();
    const v = (await a2.store.get('unpushed')) ?? null;
    await a2.close();
    expect({ bLogout, v }).toEqual({ bLogout: 'ok', v: 'A unpushed' });
  }, 90_000);
});

/** Removes the owner record of the leveldb replica at `name` (an older replica), with the app's own PouchDB. */
async function dropOwner(name: string): Promise<void> {
  const leveldb = (await import('pouchdb-adapter-leveldb' as string)) as { default: PouchDB.Plugin };
  PouchDB.plugin(leveldb.default);
  const db = new PouchDB(name, { adapter: 'leveldb' });
  try {
    const owner = await db.get('_local/feat-owner');
    await db.remove(owner);
  } finally {
    await db.close();
  }
}
