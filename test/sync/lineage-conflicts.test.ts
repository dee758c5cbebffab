/**
 * The lineage rule (store/lineage.ts) deletes, without the resolver, a leaf another leaf descends from by their marks
 * (`feat.by`, `feat.from`). It must never drop a real conflict:
 * - another app that edits a document the usual read-modify-write way (GET it, change `doc`, PUT it back keeping the
 *   fields it does not know, `feat` included) writes revisions carrying an SDK device's marks, with the old time: they
 *   "continued" that device's run, and the device's offline edit made meanwhile was deleted silently (found by an
 *   attack; one run of one writer is now also ordered by its clock);
 * - real conflicts between SDK devices whose branches start from each other's revisions go to the resolver.
 */
import { describe, expect, it } from 'vitest';
import type { Conflict } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';

const emu = useEmulator();

type Asked = { dev: string; local: unknown; remote: unknown };
const latest = (asked: Asked[], dev: string) => (c: Conflict) => {
  asked.push({ dev, local: c.local.value, remote: c.remote.value });
  const w = (c.local.updatedAt ?? 0) >= (c.remote.updatedAt ?? 0) ? c.local : c.remote;
  return w.deleted ? undefined : w.value;
};

async function settle(user: string, devs: Device[], key = 'k', ms = 25_000) {
  const server = await raw(emu, user);
  let last = '';
  const snap = async () => {
    const [vs, doc] = await Promise.all([Promise.all(devs.map((d) => d.store.get(key))), server.doc(key)]);
    return { devices: vs, server: doc.status === 404 ? undefined : doc.body.doc, conflicts: doc.body._conflicts?.length ?? 0 };
  };
  await waitFor(
    async () => {
      const s = await snap();
      const same = s.devices.every((v) => JSON.stringify(v) === JSON.stringify(s.server)) && s.conflicts === 0;
      const now = JSON.stringify(s);
      const stable = same && now === last;
      last = now;
      if (!stable) await sleep(500);
      return stable;
    },
    ms,
    'settled',
  ).catch(() => undefined);
  return snap();
}

/** Another app's read-modify-write on the server: GET the document, change `doc`, PUT it back as it is otherwise. */
async function appEdit(user: string, key: string, value: unknown): Promise<void> {
  const { url, headers } = await raw(emu, user);
  const got = (await (await fetch(`${url}/${encodeURIComponent(key)}`, { headers })).json()) as Record<string, unknown>;
  const r = await fetch(`${url}/${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ ...got, doc: value }),
  });
  expect(r.status, await r.clone().text()).toBeLessThan(300);
}

describe("another app editing read-modify-write (keeping feat) while a device edits offline: a real conflict, never a descendant", () => {
  for (const adapter of ['memory', 'leveldb'] as const) {
    it(`${adapter}: the device's offline edit is a conflict, not an ancestor silently deleted`, async () => {
      const user = uniqueUser('lin-app');
      const asked: Asked[] = [];
      const a = device(emu, user, { name: 'A', adapter, extra: { onConflict: latest(asked, 'A') } });
      await a.ready();
      await a.store.set('k', { note: 'v1' });
      await a.sync.waitForPush({ timeout: 20_000 });
      a.sync.pause();
      await sleep(50);
      // A edits offline, once (generation 2): its later value, stamped now.
      await a.store.set('k', { note: 'typed offline on A' });
      // Meanwhile another app (an admin tool, a server job) edits the document twice on the server (generations 2, 3),
      // keeping the fields it does not know — `feat` with A's `by`/`from` among them.
      await appEdit(user, 'k', { note: 'app edit 1' });
      await appEdit(user, 'k', { note: 'app edit 2' });
      a.sync.resume();
      const s = await settle(user, [a]);
      // Neither side saw the other: the resolver must be asked (the app's value carries v1's old time, so the default
      // — latest updatedAt — keeps A's offline edit).
      expect(
        { asked: asked.length > 0, events: a.conflicts.length > 0, device: s.devices[0], server: s.server },
        "a real conflict resolved silently: A's offline edit deleted as an 'ancestor' of the app's revision",
      ).toEqual({ asked: true, events: true, device: { note: 'typed offline on A' }, server: { note: 'typed offline on A' } });
    }, 90_000);
  }

  it("the app edits once, A edits three times offline: the app's edit meets the resolver, not deleted as A's older revision", async () => {
    const user = uniqueUser('lin-app-once');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', adapter: 'leveldb', extra: { onConflict: latest(asked, 'A') } });
    await a.ready();
    await a.store.set('k', { note: 'v1' });
    await a.sync.waitForPush({ timeout: 20_000 });
    a.sync.pause();
    await sleep(50);
    // The app's edit (generation 2) keeps A's marks of v1; A's later edits of its run reach generation 4.
    await appEdit(user, 'k', { note: 'app edit' });
    for (let i = 1; i <= 3; i++) await a.store.set('k', { note: `A offline ${i}` });
    a.sync.resume();
    const s = await settle(user, [a]);
    expect(
      { asked: asked.some((x) => JSON.stringify([x.local, x.remote]).includes('app edit')), events: a.conflicts.length > 0, device: s.devices[0], server: s.server },
      "the app's edit deleted without the resolver, as if A's v1 (whose marks it kept)",
    ).toEqual({ asked: true, events: true, device: { note: 'A offline 3' }, server: { note: 'A offline 3' } });
  }, 90_000);

  it("a second SDK device: A's offline edit against the app's edits is a conflict there too (B local-first, online)", async () => {
    const user = uniqueUser('lin-app2');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra: { onConflict: latest(asked, 'B') } });
    await a.ready();
    await a.store.set('k', 'v1');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v1', 20_000, 'B has v1');
    a.sync.pause();
    await sleep(50);
    await a.store.set('k', 'A offline');
    await appEdit(user, 'k', 'app 1');
    await appEdit(user, 'k', 'app 2');
    await appEdit(user, 'k', 'app 3');
    a.sync.resume();
    const s = await settle(user, [a, b]);
    expect({ ...s, conflictSeen: asked.length + a.conflicts.length + b.conflicts.length > 0 }).toEqual({
      devices: ['A offline', 'A offline'],
      server: 'A offline',
      conflicts: 0,
      conflictSeen: true,
    });
  }, 90_000);
});

describe("real conflicts between SDK devices are never dropped by the lineage rule", () => {
  it("B's run started on A's v1 (from = v1) and is longer; A edited v1 offline: the resolver sees both", async () => {
    const user = uniqueUser('lin-real');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra: { onConflict: latest(asked, 'B') } });
    await a.ready();
    await a.store.set('k', 'v1');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v1', 20_000, 'B has v1');
    a.sync.pause();
    for (let i = 1; i <= 5; i++) await b.store.set('k', `b${i}`);
    await b.sync.waitForPush({ timeout: 20_000 });
    await sleep(20);
    await a.store.set('k', 'A offline'); // later than b5
    a.sync.resume();
    const s = await settle(user, [a, b]);
    expect(asked.length).toBeGreaterThan(0);
    expect(s).toEqual({ devices: ['A offline', 'A offline'], server: 'A offline', conflicts: 0 });
  }, 90_000);

  it('A keeps writing on its own branch while a pull brings B\'s branch (both from v1): no silent drop', async () => {
    const user = uniqueUser('lin-own');
    const asked: Asked[] = [];
    // A resolver that fails the first times: A writes again on its branch while the conflict stays.
    let fail = 2;
    const a = device(emu, user, {
      name: 'A',
      extra: {
        onConflict: (c: Conflict) => {
          if (fail-- > 0) throw new Error('not now');
          return latest(asked, 'A')(c);
        },
      },
    });
    const b = device(emu, user, { name: 'B', extra: { onConflict: latest(asked, 'B') } });
    await a.ready();
    await a.store.set('k', 'v1');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v1', 20_000, 'B has v1');
    b.sync.pause();
    a.sync.pause();
    await a.store.set('k', 'a2');
    for (let i = 1; i <= 4; i++) await b.store.set('k', `b${i}`);
    b.sync.resume();
    await b.sync.waitForPush({ timeout: 20_000 });
    a.sync.resume();
    await sleep(1_500);
    await a.store.set('k', 'a3').catch(() => undefined);
    await sleep(50);
    await a.store.set('k', 'a4 last').catch(() => undefined);
    const s = await settle(user, [a, b], 'k', 40_000);
    expect(s).toEqual({ devices: ['a4 last', 'a4 last'], server: 'a4 last', conflicts: 0 });
  }, 120_000);

  it('remote-mode client and local-first device of one user: the offline edit vs the remote edits is a conflict', async () => {
    const user = uniqueUser('lin-remote');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const web = device(emu, user, { name: 'web', mode: 'remote', extra: { onConflict: latest(asked, 'web') } });
    await a.ready();
    await a.store.set('k', 'v1');
    await a.sync.waitForPush({ timeout: 20_000 });
    expect(await web.store.get('k')).toBe('v1');
    a.sync.pause();
    for (let i = 1; i <= 4; i++) await web.store.set('k', `web${i}`);
    await sleep(20);
    await a.store.set('k', 'A offline');
    a.sync.resume();
    const s = await settle(user, [a, web]);
    expect(asked.length).toBeGreaterThan(0);
    expect(s).toEqual({ devices: ['A offline', 'A offline'], server: 'A offline', conflicts: 0 });
  }, 90_000);

  it('a later removal on A (offline) beats B\'s earlier longer run of edits from v1', async () => {
    const user = uniqueUser('lin-rm');
    const a = device(emu, user, { name: 'A' });
    const b = device(emu, user, { name: 'B', adapter: 'leveldb' });
    await a.ready();
    await a.store.set('k', 'v1');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v1', 20_000, 'B has v1');
    a.sync.pause();
    for (let i = 1; i <= 4; i++) await b.store.set('k', `b${i}`);
    await b.sync.waitForPush({ timeout: 20_000 });
    await sleep(20);
    await a.store.remove('k');
    a.sync.resume();
    const s = await settle(user, [a, b]);
    expect(s).toEqual({ devices: [undefined, undefined], server: undefined, conflicts: 0 });
  }, 90_000);
});
