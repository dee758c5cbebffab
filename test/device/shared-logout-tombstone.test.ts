/**
 * LocalFirst.#mayDelete treated `info().doc_count === 0` as "holds nothing": PouchDB's doc_count excludes
 * deleted documents, so another account's replica whose only unsynced writes are removals (tombstones) is deleted by
 * a never-ready client's logout({ destroyLocal: true }) — the removal never reaches the server, the value comes back.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { codeOf, sharedReplicas } from '../support/shared-replica.js';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);

describe('shared named replica, another account logs out with destroyLocal', () => {
  it("A's unpushed removal survives B's never-ready logout({ destroyLocal: true })", async () => {
    const [alice, bob] = [uniqueUser('zr-a'), uniqueUser('zr-b')];
    const name = replicaPath();
    const a = clientOf(alice, name);
    await a.ready();
    await a.store.set('k', 'v');
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    await a.store.remove('k'); // unpushed: only a tombstone on the device (doc_count 0)
    await a.logout();
    expect(await codeOf(clientOf(bob, name).logout({ destroyLocal: true }))).toBe('ok');
    const a2 = clientOf(alice, name);
    expect(await codeOf(a2.ready())).toBe('ok');
    await a2.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
    const local = await a2.store.get('k');
    await a2.close();
    // Expected: the removal is still on the device and reaches the server.
    expect({ local, server: await serverKeys(alice) }).toEqual({ local: undefined, server: [] });
  }, 90_000);
});
