/**
 * The app updates from v0.1.0 (35fe56d) on a Node device whose LevelDB replica synced and holds writes still pending
 * (README: "a replica that has synced before opens at once, even offline"). v0.1.0 kept its session in the replica's
 * `_local/feat-session` as `{ userName, dbName, fingerprint }` (test/support/legacy-replica.ts fabricates that state
 * with v0.1.0's exact shapes).
 *
 * Failed before: offline, ready() rejected `network` (only the current record, `{ …, identity }`, was recognised).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { codeOf } from '../support/shared-replica.js';
import { localDoc, pushAsV010, sessionOf, v010Fingerprint, writeV010Replica } from '../support/legacy-replica.js';

const emu = useEmulator();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(async () => {
  if (emu.suspended) await emu.resume();
});

const replicaPath = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'feat-v010-'));
  dirs.push(d);
  return join(d, 'replica');
};
const clientOf = (user: string, name: string): FeatClient =>
  emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name }, requestTimeout: 3_000, maintenance: { enabled: false } }),
  );
const serverValue = async (user: string, key: string): Promise<unknown> => {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  try {
    return await c.store.get(key);
  } finally {
    await c.close();
  }
};

/** A's v0.1.0 replica: `synced` on the server too, `pending` written offline, and its session record. */
async function v010Replica(user: string): Promise<string> {
  const session = await sessionOf(emu, user);
  const name = replicaPath();
  await writeV010Replica(name, {
    values: { synced: 'on the server', pending: 'written offline' },
    session: { userName: session.userName, dbName: session.dbName, fingerprint: v010Fingerprint(emu.bearerFor(user)) },
  });
  await pushAsV010(emu, user, name, ['synced']);
  return name;
}

describe('a v0.1.0 replica with its session record, opened by the current SDK', () => {
  it('offline: ready() opens it for the same credentials, reads its values, rewrites the record in the current form; online the pending write reaches the server', async () => {
    const user = uniqueUser('v010-off');
    const name = await v010Replica(user);
    const { dbName } = await sessionOf(emu, user);
    await emu.suspend();
    const c = clientOf(user, name);
    const session = await c.ready();
    const offline = { synced: await c.store.get('synced'), pending: await c.store.get('pending'), count: await c.sync.pending() };
    await c.close();
    const record = await localDoc(name, '_local/feat-session');
    expect(session).toMatchObject({ dbName });
    expect(offline).toEqual({ synced: 'on the server', pending: 'written offline', count: expect.any(Number) });
    expect(offline.count).toBeGreaterThanOrEqual(1);
    // What v0.1.0 kept of the credential (an unsalted digest of the Authorization value) is gone, offline already.
    expect(record).toMatchObject({ dbName, identity: expect.any(String) });
    expect(record).not.toHaveProperty('fingerprint');
    expect(await localDoc(name, '_local/feat-owner')).toMatchObject({ dbName });

    await emu.resume();
    const again = clientOf(user, name);
    await again.ready();
    await again.sync.waitForPush({ timeout: 20_000 });
    await again.close();
    expect(await serverValue(user, 'pending')).toBe('written offline');
  }, 90_000);

  it('online: ready() opens it and rewrites the record in the current form', async () => {
    const user = uniqueUser('v010-on');
    const name = await v010Replica(user);
    const c = clientOf(user, name);
    await c.ready();
    const read = await c.store.get('pending');
    await c.sync.waitForPush({ timeout: 20_000 });
    await c.close();
    const record = await localDoc(name, '_local/feat-session');
    expect(read).toBe('written offline');
    expect(record).toHaveProperty('identity');
    expect(record).not.toHaveProperty('fingerprint');
    expect(await serverValue(user, 'pending')).toBe('written offline');
  }, 90_000);

  it('a record for other credentials is not used: offline another account is refused (network), online forbidden; the record is left as it was', async () => {
    const [alice, bob] = [uniqueUser('v010-a'), uniqueUser('v010-b')];
    const name = await v010Replica(alice);
    await sessionOf(emu, bob);
    const before = await localDoc(name, '_local/feat-session');
    await emu.suspend();
    const offline = await codeOf(clientOf(bob, name).ready());
    await emu.resume();
    const online = await codeOf(clientOf(bob, name).ready());
    expect({ offline, online }).toEqual({ offline: 'network', online: 'forbidden' });
    expect(await localDoc(name, '_local/feat-session')).toEqual(before);
    expect(await serverValue(bob, 'pending')).toBeUndefined();
  }, 90_000);
});
