/**
 * A shared device updated from v0.1.0 (35fe56d): account A's LevelDB replica (`local.name`) synced, got a write offline,
 * then A's plain logout() deleted its session record — v0.1.0's only record of whose data it holds (it had no owner
 * record). README: "a replica holds one account's data; opened for another account it is refused with `forbidden`".
 * test/support/legacy-replica.ts fabricates that state with v0.1.0's exact shapes.
 *
 * Failed before: account B's ready() claimed it, read A's values, and pushed them (synced and pending) into B's database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { codeOf, sharedReplicas } from '../support/shared-replica.js';
import { localDoc, openLevel, pushAsV010, sessionOf, writeV010Replica } from '../support/legacy-replica.js';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);
afterEach(async () => {
  if (emu.suspended) await emu.resume();
});

/** A's v0.1.0 replica after its plain logout(): `a-synced` on A's server too, `a-secret` written offline, no session record. */
async function unownedReplica(alice: string): Promise<string> {
  const name = replicaPath();
  await writeV010Replica(name, { values: { 'a-synced': 'A synced value', 'a-secret': 'A offline secret' } });
  await pushAsV010(emu, alice, name, ['a-synced']);
  return name;
}

describe('a v0.1.0 replica that names no account (its logout() deleted the session record)', () => {
  it('B is refused (forbidden, saying what to do): reads nothing, pushes nothing, the replica is left as it was; B\'s destroyLocal logout discards it', async () => {
    const [alice, bob] = [uniqueUser('v010u-a'), uniqueUser('v010u-b')];
    const name = await unownedReplica(alice);
    await sessionOf(emu, bob);
    const b = clientOf(bob, name);
    const refusal = await b.ready().then(() => undefined, (e: unknown) => e);
    expect(isFeatError(refusal) && refusal.code).toBe('forbidden');
    expect((refusal as Error).message).toMatch(/sign in as the account that wrote it.*logout\(\{ destroyLocal: true \}\)/);
    expect(await serverKeys(bob)).toEqual([]);
    expect(await localDoc(name, '_local/feat-owner')).toBeUndefined();

    // Discarded by B's logout({ destroyLocal: true }): then B's own replica.
    expect(await codeOf(clientOf(bob, name).logout({ destroyLocal: true }))).toBe('ok');
    const b2 = clientOf(bob, name);
    await b2.ready();
    const keys = await b2.store.keys();
    await b2.close();
    expect(keys).toEqual([]);
    expect(await serverKeys(bob)).toEqual([]);
  }, 90_000);

  it('offline, B is refused and nothing is read or claimed', async () => {
    const [alice, bob] = [uniqueUser('v010u-off-a'), uniqueUser('v010u-off-b')];
    const name = await unownedReplica(alice);
    await emu.suspend();
    const offline = await codeOf(clientOf(bob, name).ready());
    await emu.resume();
    expect(offline).toBe('network');
    expect(await localDoc(name, '_local/feat-owner')).toBeUndefined();
    expect(await serverKeys(bob)).toEqual([]);
  }, 90_000);

  it('A signs in again: the server knows its revisions, the replica is A\'s — values read, the offline write pushed, the owner recorded', async () => {
    const alice = uniqueUser('v010u-own');
    const name = await unownedReplica(alice);
    const { dbName } = await sessionOf(emu, alice);
    const a = clientOf(alice, name);
    await a.ready();
    const read = { synced: await a.store.get('a-synced'), secret: await a.store.get('a-secret') };
    await a.sync.waitForPush({ timeout: 20_000 });
    await a.close();
    expect(read).toEqual({ synced: 'A synced value', secret: 'A offline secret' });
    expect(await serverKeys(alice)).toEqual(['a-secret', 'a-synced']);
    expect(await localDoc(name, '_local/feat-owner')).toMatchObject({ dbName });
  }, 90_000);

  it('A had edited every synced value offline: proven by the history (the oldest revision), not the newest', async () => {
    const alice = uniqueUser('v010u-hist');
    const name = await unownedReplica(alice);
    const db = await openLevel(name);
    try {
      const doc = await db.get('a-synced');
      await db.put({ ...doc, doc: 'A edited offline' });
    } finally {
      await db.close();
    }
    const a = clientOf(alice, name);
    expect(await codeOf(a.ready())).toBe('ok');
    expect(await a.store.get('a-synced')).toBe('A edited offline');
    await a.close();
  }, 90_000);

  it('a new, empty replica is claimed at once, asking the server nothing about it', async () => {
    const alice = uniqueUser('v010u-new');
    const name = replicaPath();
    const asked: string[] = [];
    const counting: typeof fetch = (input, init) => {
      asked.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    const a = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(alice), local: { adapter: 'leveldb', name }, fetch: counting }));
    await a.ready();
    await a.close();
    expect(asked.filter((url) => url.includes('_revs_diff'))).toEqual([]);
    expect(await localDoc(name, '_local/feat-owner')).toBeDefined();
  }, 60_000);
});
