/**
 * A shared device in Node with one named `leveldb` replica for whoever signs in (README `local.name`: "a replica holds
 * one account's data — opened for another account it is refused with forbidden"). logout({ destroyLocal: true }) of a
 * client that never called ready() deletes the replica only when it is this account's (or holds nobody's data): another
 * account's is left alone and logout resolves, exactly as after that client's refused ready(); when the server cannot
 * say whose credentials these are, it rejects and deletes nothing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { codeOf, sharedReplicas } from '../support/shared-replica.js';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);

/** A's replica at `name`, with one write pushed and one only on the device, A logged out without destroyLocal. */
async function aLoggedOut(alice: string, name: string): Promise<void> {
  const a = clientOf(alice, name);
  await a.ready();
  await a.store.set('synced', 'A synced');
  await a.sync.waitForPush({ timeout: 15_000 });
  a.sync.pause();
  await a.store.set('unpushed', 'A unpushed, only on this device');
  await a.logout();
}

/** A signs in again on `name`: what it reads of its unpushed write, and what reaches the server. */
async function aAgain(alice: string, name: string): Promise<{ started: string; value: unknown; onServer: string[] }> {
  const a2 = clientOf(alice, name);
  const started = await codeOf(a2.ready());
  const value = started === 'ok' ? await a2.store.get('unpushed') : undefined;
  if (started === 'ok') await a2.sync.waitForPush({ timeout: 15_000 }).catch(() => undefined);
  await a2.close();
  return { started, value, onServer: await serverKeys(alice) };
}

describe('logout({ destroyLocal: true }) of a client that never called ready(), on a replica every account shares', () => {
  it('B\'s client: resolves, and A\'s replica with A\'s unpushed write survives (as after B\'s refused ready())', async () => {
    const [alice, bob] = [uniqueUser('sl-a'), uniqueUser('sl-b')];
    const name = replicaPath();
    await aLoggedOut(alice, name);
    expect(await codeOf(clientOf(bob, name).logout({ destroyLocal: true }))).toBe('ok');
    expect(await aAgain(alice, name)).toEqual({ started: 'ok', value: 'A unpushed, only on this device', onServer: ['synced', 'unpushed'] });
    expect(await serverKeys(bob)).toEqual([]);
  }, 90_000);

  it('B\'s client while the server cannot be reached: rejects network, and deletes nothing', async () => {
    const [alice, bob] = [uniqueUser('sl-a'), uniqueUser('sl-b')];
    const name = replicaPath();
    await aLoggedOut(alice, name);
    await emu.suspend();
    let bLogout: string;
    try {
      bLogout = await codeOf(clientOf(bob, name).logout({ destroyLocal: true }));
    } finally {
      await emu.resume();
    }
    expect(bLogout).toBe('network');
    expect(await aAgain(alice, name)).toEqual({ started: 'ok', value: 'A unpushed, only on this device', onServer: ['synced', 'unpushed'] });
  }, 90_000);

  it('A\'s own client, after A logged out without destroyLocal (nothing on the device names A any more): the server says it is A\'s, and it is deleted', async () => {
    const alice = uniqueUser('sl-own');
    const name = replicaPath();
    await aLoggedOut(alice, name);
    expect(await codeOf(clientOf(alice, name).logout({ destroyLocal: true }))).toBe('ok');
    expect(!existsSync(name) || readdirSync(name).length === 0).toBe(true);
  }, 60_000);
});
