/**
 * Histories stemmed past a common revision. CouchDB keeps `_revs_limit` revisions per document (1,000 by default, an
 * operator may lower it; here 5) and a PouchDB replica 1,000: once one device has made more edits than that on top of
 * revision v0, the history it pushes (or another device pulls) no longer reaches v0, and v0 shows up again as a
 * second leaf. That is no conflict: v0 is an ancestor of the new value (lineage.ts). Expected: the resolver is not
 * asked and no `conflict` event fires when only one device edited; in a real conflict the resolver sees the two
 * devices' values, never the long-superseded ancestor; and a value stamped by a fast clock never wins over the edits
 * made on top of it (a write is stamped after its parent: hybrid logical time).
 */
import { describe, expect, it } from 'vitest';
import type { Conflict } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { putStamped, setRevsLimit } from './revs-limit.js';

const emu = useEmulator();

type Asked = { dev: string; key: string; local: unknown; remote: unknown };

/** The documented default (latest `updatedAt` wins), recording what it is asked. */
const latest = (asked: Asked[], dev: string) => (c: Conflict) => {
  asked.push({ dev, key: c.key, local: c.local.value, remote: c.remote.value });
  const w = (c.local.updatedAt ?? 0) >= (c.remote.updatedAt ?? 0) ? c.local : c.remote;
  return w.deleted ? undefined : w.value;
};

/** A merging resolver (the README's `mergeDrafts` pattern): the union of two lists, recording what it is asked. */
const union = (asked: Asked[], dev: string) => (c: Conflict) => {
  asked.push({ dev, key: c.key, local: c.local.value, remote: c.remote.value });
  if (c.local.deleted || c.remote.deleted) return latest([], dev)(c);
  const out = [...(c.local.value as string[])];
  for (const x of c.remote.value as string[]) if (!out.includes(x)) out.push(x);
  return out;
};

/** Waits until every device and the server hold `want` for `k` (no conflicts left on the server); then a moment more. */
async function settled(user: string, devs: Device[], want: unknown, ms = 30_000): Promise<{ devices: unknown[]; server: unknown }> {
  const server = await raw(emu, user);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  await waitFor(
    async () => {
      const [vs, doc] = await Promise.all([Promise.all(devs.map((d) => d.store.get('k'))), server.doc('k')]);
      return vs.every((v) => same(v, want)) && same(doc.status === 404 ? undefined : doc.body.doc, want) && !doc.body._conflicts?.length;
    },
    ms,
    'settled',
  ).catch(() => undefined);
  await sleep(1_000);
  const doc = await server.doc('k');
  return { devices: await Promise.all(devs.map((d) => d.store.get('k'))), server: doc.status === 404 ? undefined : doc.body.doc };
}

/** A, then B, ready; `k` = `v0` written by `write` and held by both; the server keeps 5 revisions. */
async function twoDevices(user: string, extra: (dev: string) => Record<string, unknown>, write: (a: Device) => Promise<void>, v0: unknown) {
  const a = device(emu, user, { name: 'A', extra: extra('A') });
  const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra: extra('B') });
  await a.ready();
  await setRevsLimit(emu, user, 5);
  await write(a);
  await b.ready();
  const has = (d: Device) => async () => JSON.stringify(await d.store.get('k')) === JSON.stringify(v0);
  await waitFor(async () => (await has(a)()) && (await has(b)()), 20_000, 'both hold v0');
  return { a, b };
}

/** A edits `k` `n` times, each pushed (the server stems its history to 5 revisions meanwhile). */
async function editPushed(a: Device, n: number, value: (i: number) => unknown): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await a.store.set('k', value(i));
    await a.sync.waitForPush({ timeout: 20_000 });
  }
}

describe('a history stemmed past the revision both devices held (server _revs_limit 5)', () => {
  it('a value stamped by a fast clock (30 s) does not win over the 20 edits made on top of it', async () => {
    const user = uniqueUser('sh-clock');
    const { a, b } = await twoDevices(user, () => ({}), () => putStamped(emu, user, 'k', 'v0-fast', 30_000), 'v0-fast');
    b.sync.pause();
    await editPushed(a, 20, (i) => `a${i}`);
    b.sync.resume();
    expect(await settled(user, [a, b], 'a20')).toEqual({ devices: ['a20', 'a20'], server: 'a20' });
  }, 90_000);

  it('B offline and untouched catches up: no resolver, no conflict event, its watch shows only the newest value', async () => {
    const user = uniqueUser('sh-catch');
    const asked: Asked[] = [];
    const { a, b } = await twoDevices(user, (dev) => ({ onConflict: latest(asked, dev) }), (a) => a.store.set('k', 'v0'), 'v0');
    const seen: unknown[] = [];
    b.store.watch('k', (e) => seen.push(e.value));
    b.sync.pause();
    await editPushed(a, 20, (i) => `a${i}`);
    b.sync.resume();
    expect(await settled(user, [a, b], 'a20')).toEqual({ devices: ['a20', 'a20'], server: 'a20' });
    expect(asked, 'the resolver was asked although only A edited').toEqual([]);
    expect(a.conflicts.length + b.conflicts.length, 'conflict events although only A edited').toBe(0);
    expect(seen, "B's watch: the newest value only, never v0 again").toEqual(['a20']);
  }, 90_000);

  it('a merging resolver: an item A removed does not come back when B (offline, untouched) reconnects', async () => {
    const user = uniqueUser('sh-merge');
    const asked: Asked[] = [];
    const { a, b } = await twoDevices(user, (dev) => ({ onConflict: union(asked, dev) }), (a) => a.store.set('k', ['x', 'y']), ['x', 'y']);
    b.sync.pause();
    await editPushed(a, 20, (i) => ['x', `a${i}`]);
    b.sync.resume();
    const r = await settled(user, [a, b], ['x', 'a20']);
    expect(r, "'y' was removed by the only device that edited").toEqual({ devices: [['x', 'a20'], ['x', 'a20']], server: ['x', 'a20'] });
    expect(asked).toEqual([]);
  }, 90_000);

  it('A edits 20 times then removes the key: it stays removed on B, whose watch reports the removal only', async () => {
    const user = uniqueUser('sh-remove');
    const { a, b } = await twoDevices(user, () => ({}), (a) => a.store.set('k', 'v0'), 'v0');
    b.sync.pause();
    const events: string[] = [];
    b.store.watch('k', (e) => events.push(`${e.kind}/${JSON.stringify(e.value)}`));
    await editPushed(a, 20, (i) => `a${i}`);
    await a.store.remove('k');
    await a.sync.waitForPush({ timeout: 20_000 });
    b.sync.resume();
    expect(await settled(user, [a, b], undefined)).toEqual({ devices: [undefined, undefined], server: undefined });
    expect(events).toEqual(['delete/undefined']);
    expect(a.conflicts.length + b.conflicts.length).toBe(0);
  }, 90_000);

  it('a real conflict (B edits offline too): the resolver sees the two devices\' values, never the common ancestor', async () => {
    const user = uniqueUser('sh-real');
    const asked: Asked[] = [];
    const { a, b } = await twoDevices(user, (dev) => ({ onConflict: latest(asked, dev) }), (a) => a.store.set('k', 'v0'), 'v0');
    b.sync.pause();
    await editPushed(a, 20, (i) => `a${i}`);
    for (let i = 1; i <= 20; i++) await b.store.set('k', `b${i}`);
    b.sync.resume();
    expect(await settled(user, [a, b], 'b20')).toEqual({ devices: ['b20', 'b20'], server: 'b20' });
    expect(asked.length, 'a real conflict').toBeGreaterThan(0);
    expect(asked.flatMap((x) => [x.local, x.remote]).filter((v) => v !== 'a20' && v !== 'b20'), 'a side neither device holds').toEqual([]);
  }, 90_000);

  it('parts: one part edited 20 times by A only — B reads the last, no resolver', async () => {
    const user = uniqueUser('sh-parts');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const b = device(emu, user, { name: 'B', extra: { onConflict: latest(asked, 'B') } });
    await a.ready();
    await setRevsLimit(emu, user, 5);
    await a.store.setParts('art', { p1: 0, p2: 'fixed' });
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.getParts('art')).p1 === 0, 20_000, 'B has p1 = 0');
    b.sync.pause();
    for (let i = 1; i <= 20; i++) {
      await a.store.setParts('art', { p1: i, p2: 'fixed' });
      await a.sync.waitForPush({ timeout: 20_000 });
    }
    b.sync.resume();
    await waitFor(async () => (await b.store.getParts('art')).p1 === 20, 30_000, 'B has p1 = 20').catch(() => undefined);
    await sleep(1_000);
    expect(await b.store.getParts('art')).toEqual({ p1: 20, p2: 'fixed' });
    expect(asked).toEqual([]);
  }, 90_000);
});

describe('a history stemmed by the replica (PouchDB keeps 1,000 revisions)', () => {
  it('1,500 offline edits of one device, nobody else: the last value everywhere, no conflict', async () => {
    const user = uniqueUser('sh-1500');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const b = device(emu, user, { name: 'B', extra: { onConflict: latest(asked, 'B') } });
    await a.store.set('k', 'v0');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
    a.sync.pause();
    for (let i = 1; i <= 1_500; i++) await a.store.set('k', `v${i}`);
    a.sync.resume();
    expect(await settled(user, [a, b], 'v1500', 60_000)).toEqual({ devices: ['v1500', 'v1500'], server: 'v1500' });
    const live = (await (await raw(emu, user)).leaves('k')).filter((l) => !l.deleted).map((l) => l.doc);
    expect(live).toEqual(['v1500']);
    expect(asked).toEqual([]);
    expect(a.conflicts.length + b.conflicts.length).toBe(0);
  }, 110_000);

  it('two devices, 1,100 offline edits each: one real conflict between their last values, never v0, latest wins', async () => {
    const user = uniqueUser('sh-diverged');
    const asked: Asked[] = [];
    const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
    const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra: { onConflict: latest(asked, 'B') } });
    await a.store.set('k', 'v0');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
    a.sync.pause();
    b.sync.pause();
    for (let i = 1; i <= 1_100; i++) await a.store.set('k', `a${i}`);
    for (let i = 1; i <= 1_100; i++) await b.store.set('k', `b${i}`);
    a.sync.resume();
    b.sync.resume();
    expect(await settled(user, [a, b], 'b1100', 60_000)).toEqual({ devices: ['b1100', 'b1100'], server: 'b1100' });
    expect(asked.length, 'a real conflict').toBeGreaterThan(0);
    expect(asked.flatMap((x) => [x.local, x.remote]).filter((v) => v !== 'a1100' && v !== 'b1100'), 'a side neither device holds').toEqual([]);
  }, 110_000);
});

describe('remote mode', () => {
  /** Two leaves of `k` on the server, made as replication makes them: `older` (generation 1) and `newer` (generation 30). */
  async function leaves(user: string, older: Record<string, unknown>, newer: Record<string, unknown>): Promise<void> {
    const { url, headers } = await rawDatabase(emu, user);
    const docs = [
      { _id: 'k', _rev: '1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', ...older },
      { _id: 'k', _rev: '30-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', _revisions: { start: 30, ids: ['bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'cccccccccccccccccccccccccccccccc'] }, ...newer },
    ];
    const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ docs, new_edits: false }) });
    if (!r.ok) throw new Error(`_bulk_docs ${r.status}`);
  }

  it('a read meets a leaf the other descends from (its run started there): the newer value, no resolver, no event', async () => {
    const user = uniqueUser('sh-remote');
    const asked: Asked[] = [];
    const r = device(emu, user, { name: 'R', mode: 'remote', extra: { onConflict: latest(asked, 'R') } });
    await r.ready();
    const at = Date.now();
    await leaves(user, { doc: 'old', feat: { updatedAt: at + 60_000 } }, { doc: 'new', feat: { updatedAt: at, by: 'abcdef0123456789', from: '1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' } });
    expect(await r.store.get('k')).toBe('new');
    expect({ asked, events: r.conflicts.length }).toEqual({ asked: [], events: 0 });
    const live = (await (await raw(emu, user)).leaves('k')).filter((l) => !l.deleted).map((l) => l.doc);
    expect(live).toEqual(['new']);
  }, 60_000);

  it('marks not of the SDK\'s shape are a conflict as before (the resolver decides)', async () => {
    const user = uniqueUser('sh-remote-bad');
    const asked: Asked[] = [];
    const r = device(emu, user, { name: 'R', mode: 'remote', extra: { onConflict: latest(asked, 'R') } });
    await r.ready();
    const at = Date.now();
    await leaves(user, { doc: 'old', feat: { updatedAt: at + 60_000 } }, { doc: 'new', feat: { updatedAt: at, by: 'not a writer id!', from: '1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' } });
    expect(await r.store.get('k')).toBe('old');
    expect(asked.map((x) => [x.local, x.remote])).toEqual([['new', 'old']]);
  }, 60_000);

  it('a write on top of a revision stamped by a fast clock keeps its own time, starts its run there, and carries its writer', async () => {
    const user = uniqueUser('sh-remote-marks');
    const r = device(emu, user, { name: 'R', mode: 'remote' });
    await r.ready();
    await putStamped(emu, user, 'k', 'fast', 30_000);
    const server = await raw(emu, user);
    const before = (await server.doc('k')).body as { _rev: string; feat: { updatedAt: number } };
    expect(await r.store.get('k')).toBe('fast');
    await r.store.set('k', 'mine');
    const after = (await server.doc('k')).body as { doc: unknown; feat: { updatedAt: number; by?: string; from?: string } };
    expect(after.doc).toBe('mine');
    expect(after.feat.updatedAt).toBeLessThan(before.feat.updatedAt);
    expect(after.feat.from).toBe(before._rev);
    expect(after.feat.by).toMatch(/^[0-9a-f]{16}$/);
  }, 60_000);
});
