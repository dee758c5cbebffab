/**
 * A key the device holds, edited on the server (another app) into a value deeper than 1,000 levels: the device does
 * not go on answering the superseded value as current, and its own later write of the key goes on top of that
 * revision — the server ends with one leaf, the device and the server agree.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor, sleep } from '../support/backend.js';
import { device, raw } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();
const arrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const bulk = async (user: string, body: string) => (await rawDatabase(emu, user)).bulk(body);
const extra = { initialSyncTimeout: 30_000, maintenance: { enabled: false } };

async function setup() {
  const user = uniqueUser('s24-stale');
  const r = device(emu, user, { name: 'r', mode: 'remote' });
  await r.ready();
  await r.store.set('held', 'v1');
  const l = device(emu, user, { name: 'l', extra });
  await l.ready();
  expect(await l.store.get('held')).toBe('v1');
  const { url, headers } = await rawDatabase(emu, user);
  const cur = (await (await fetch(`${url}/held`, { headers })).json()) as Record<string, unknown>;
  // Another app edits it (keeps the SDK's metadata shape, newer updatedAt) into a deep value.
  const feat = { ...(cur.feat as object), updatedAt: Date.now() + 1000 };
  await bulk(user, `{"docs":[{"_id":"held","_rev":"${cur._rev as string}","feat":${JSON.stringify(feat)},"doc":${arrays(1100)}}]}`);
  await waitFor(() => l.errors.some((e) => e.key === 'held'), 20_000, 'an invalid_value for held');
  return { user, r, l };
}

describe('a held key edited on the server into a too-deep value', () => {
  it('the device does not go on answering the superseded value "v1" as current', async () => {
    const { l } = await setup();
    expect(l.errors.find((e) => e.key === 'held')?.code).toBe('invalid_value');
    expect(await l.store.get('held')).not.toBe('v1');
  }, 90_000);

  it('a write of that key from the device afterwards: the server ends with ONE leaf, the device and server agree', async () => {
    const { user, r, l } = await setup();
    await sleep(500);
    await l.store.set('held', 'v2-from-device');
    await l.sync.waitForPush({ timeout: 30_000 });
    const db = await raw(emu, user);
    await waitFor(async () => (await db.leaves('held')).filter((x) => !x.deleted).length === 1, 30_000, 'one live leaf').catch(() => undefined);
    const leaves = await db.leaves('held');
    const serverValue = await r.store.get('held');
    const deviceValue = await l.store.get('held');
    expect(leaves.filter((x) => !x.deleted)).toHaveLength(1);
    if (typeof serverValue === 'string') expect(deviceValue).toBe(serverValue);
    else expect(deviceValue).not.toBe('v2-from-device'); // the device must not believe its write won if it did not
  }, 90_000);
});

describe('an offline write of a key another app then made too deep', () => {
  it('no read on the device resolves the conflict with the valueless leaf: the deep value stays on the server', async () => {
    const user = uniqueUser('s24-deep-conflict');
    const r = device(emu, user, { name: 'r', mode: 'remote' });
    await r.ready();
    await r.store.set('held', 'v1');
    const l = device(emu, user, { name: 'l', extra });
    await l.ready();
    l.sync.pause();
    await l.store.set('held', 'mine, offline');
    const { url, headers } = await rawDatabase(emu, user);
    const cur = (await (await fetch(`${url}/held`, { headers })).json()) as Record<string, unknown>;
    // Stamped later than the device's write: the latest write would be the deep value.
    const feat = { ...(cur.feat as object), updatedAt: Date.now() + 60_000 };
    await bulk(user, `{"docs":[{"_id":"held","_rev":"${cur._rev as string}","feat":${JSON.stringify(feat)},"doc":${arrays(1100)}}]}`);
    l.sync.resume();
    await waitFor(() => l.errors.some((e) => e.key === 'held'), 20_000, 'an invalid_value for held');
    // Reads of the device that resolve conflicts on the replica: a watch's current values, get().
    const stop = l.store.watch({ prefix: 'held' }, () => undefined, { current: true });
    await l.store.get('held');
    await l.sync.waitForPush({ timeout: 30_000 });
    await sleep(1_000);
    stop();
    const db = await raw(emu, user);
    const live = (await db.leaves('held')).filter((x) => !x.deleted);
    expect(live.some((x) => Array.isArray(x.doc))).toBe(true);
  }, 90_000);
});
