/**
 * LocalFirst.#mayDelete treated `info().doc_count === 0` as "holds nothing": PouchDB's doc_count excludes
 * deleted documents, so another account's replica whose only unsynced writes are removals (tombstones) is deleted by
 * a never-ready client's logout({ destroyLocal: true }) — the removal never reaches the server, the value comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const replicaPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'feat-shared-'));
  dirs.push(d);
  return join(d, 'replica');
};
const clientOf = (user: string, name: string): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name } }));
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isFeatError(e) ? e.code : `non-FeatError ${String(e)}`));

async function serverKeys(user: string): Promise<string[]> {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
  try {
    await c.ready();
    return await c.store.keys();
  } finally {
    await c.close();
  }
}

describe('review: shared named replica, another account logs out with destroyLocal', () => {
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
