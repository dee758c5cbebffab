/**
 * A key the device holds, edited on the server (another app) into a value deeper than 1,000 levels: the device does
 * not go on answering the superseded value as current, and its own later write of the key goes on top of that
 * revision — the server ends with one leaf, the device and the server agree.
 */
import { describe, expect, it } from 'vitest';
import { clientIn, uniqueUser, useEmulator, waitFor, sleep } from '../support/backend.js';
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

/**
 * `held` = "v1" on the server and the device; the device writes it offline (`offline` times: its leaf that many
 * generations up), then another app makes it 1,100 levels deep, stamped 60 s later (the latest write).
 */
async function offlineThenDeep(name: string, offline = 1) {
  const user = uniqueUser(name);
  const r = device(emu, user, { name: 'r', mode: 'remote' });
  await r.ready();
  await r.store.set('held', 'v1');
  const l = device(emu, user, { name: 'l', extra });
  await l.ready();
  l.sync.pause();
  for (let i = 0; i < offline; i++) await l.store.set('held', `mine, offline ${i}`);
  const { url, headers } = await rawDatabase(emu, user);
  const cur = (await (await fetch(`${url}/held`, { headers })).json()) as Record<string, unknown>;
  const feat = { ...(cur.feat as object), updatedAt: Date.now() + 60_000 };
  await bulk(user, `{"docs":[{"_id":"held","_rev":"${cur._rev as string}","feat":${JSON.stringify(feat)},"doc":${arrays(1100)}}]}`);
  return { user, r, l, url, headers, feat };
}

describe('an offline write of a key another app then made too deep', () => {
  it('no read on the device resolves the conflict with the valueless leaf: the deep value stays on the server', async () => {
    const { user, l } = await offlineThenDeep('s24-deep-conflict');
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

describe('an offline write of a key another app then made too deep, the deep value written later', () => {
  // The default rule keeps the later write: the deep value. The resolution keeps its leaf as it is (the SDK does not
  // write values deeper than 500 levels itself) and deletes the device's: one live leaf, no `conflict` reported.
  for (const winner of ['the deep leaf', "the device's leaf"] as const) {
    it(`CouchDB's winner is ${winner}: the server ends with the deep value alone, no conflict error`, async () => {
      // Two offline writes: the device's leaf is one generation higher (CouchDB's winner).
      const { user, r, l, url, headers, feat } = await offlineThenDeep('s25-deep-wins', winner === "the device's leaf" ? 2 : 1);
      if (winner === 'the deep leaf') {
        // A second server edit: the deep leaf is one generation higher.
        const now = (await (await fetch(`${url}/held`, { headers })).json()) as Record<string, unknown>;
        await bulk(user, `{"docs":[{"_id":"held","_rev":"${now._rev as string}","feat":${JSON.stringify(feat)},"doc":${arrays(1101)}}]}`);
      }
      l.sync.resume();
      await l.sync.waitForPush({ timeout: 30_000 });
      const db = await raw(emu, user);
      await waitFor(async () => (await db.leaves('held')).filter((x) => !x.deleted).length === 1, 30_000, 'one live leaf').catch(() => undefined);
      const live = (await db.leaves('held')).filter((x) => !x.deleted);
      expect(live).toHaveLength(1);
      expect(Array.isArray(live[0]!.doc)).toBe(true);
      await sleep(500);
      expect(l.errors.filter((e) => e.code === 'conflict')).toEqual([]);
      // The device does not answer its own losing write.
      expect(String(await l.store.get('held'))).not.toContain('mine');
      // A remote reader reads the deep value (its key has no conflict left).
      expect(Array.isArray(await r.store.get('held'))).toBe(true);
    }, 90_000);
  }
});

describe('remote mode: a conflict of a value deeper than the SDK writes (600 levels) with one of its own', () => {
  const DEPTH = 600;
  const twoLeaves = async (user: string) => {
    const now = Date.now();
    // CouchDB's winner (the higher revision id) is the SDK's shallow value; the deep one is the later write.
    await bulk(
      user,
      `{"new_edits":false,"docs":[{"_id":"k","_rev":"1-${'f'.repeat(32)}","feat":{"updatedAt":${now - 60_000}},"doc":"shallow"},` +
        `{"_id":"k","_rev":"1-${'a'.repeat(32)}","feat":{"updatedAt":${now}},"doc":${arrays(DEPTH)}}]}`,
    );
  };
  const depthOf = (v: unknown) => {
    let d = 0;
    for (; Array.isArray(v); v = v[0]) d++;
    return d;
  };

  it('a resolver that hands back the deep side as it is: that leaf is kept, the other deleted', async () => {
    const user = uniqueUser('s25-deep-remote');
    const c = clientIn(emu, user, 'remote', { onConflict: ({ local, remote }) => (Array.isArray(local.value) ? local.value : remote.value) });
    await c.ready();
    await twoLeaves(user);
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(e.code));
    expect(depthOf(await c.store.get('k'))).toBe(DEPTH);
    const db = await raw(emu, user);
    await waitFor(async () => (await db.leaves('k')).filter((x) => !x.deleted).length === 1, 10_000, 'one live leaf');
    expect((await db.leaves('k')).find((x) => !x.deleted)?.rev).toBe(`1-${'a'.repeat(32)}`);
    expect(errors).toEqual([]);
  }, 60_000);

  it('a resolver that returns a new value built around the deep one: refused (`conflict`), both leaves stay', async () => {
    const user = uniqueUser('s25-deep-remote-merge');
    const c = clientIn(emu, user, 'remote', { onConflict: ({ local, remote }) => [local.value, remote.value] });
    await c.ready();
    await twoLeaves(user);
    const errors: { code: string; message: string }[] = [];
    c.sync.on('error', (e) => errors.push(e));
    // The read answers CouchDB's winner; the failure goes to the error event.
    expect(await c.store.get('k')).toBe('shallow');
    await waitFor(() => errors.length > 0, 10_000, 'an error event');
    expect(errors[0]).toMatchObject({ code: 'conflict', message: expect.stringMatching(/cannot be stored .*nested deeper than 500 levels/) });
    const db = await raw(emu, user);
    expect((await db.leaves('k')).filter((x) => !x.deleted)).toHaveLength(2);
  }, 60_000);
});
