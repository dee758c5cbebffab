/**
 * Local-first: a pull brings conflicts, and the app reads a key before the replica's resolution of it is written (the
 * device is busy resolving others). `get()` and `getParts()` answer the resolution — as `watch({ current })` and
 * remote-mode reads do — never CouchDB's winner the resolution is about to drop (an editor that loaded it, then
 * saved, would write over the value that won). Before, both returned the winning leaf until the resolution landed.
 * Remote mode: `getParts()` (and so redux `getItem`) resolved no conflicted part, unlike `get()` of the part.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Conflict, ConflictResolver } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { clientIn, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();
type Obj = Record<string, unknown>;
const merge: ConflictResolver = (c: Conflict) => ({ ...(c.remote.value as Obj | undefined), ...(c.local.value as Obj | undefined) });

/** Two live leaves of `id`: CouchDB's winner (the higher revision) holds `winner`, the later write `later`. */
async function twoLeaves(user: string, id: string, winner: unknown, later: unknown) {
  const now = Date.now();
  await (await rawDatabase(emu, user)).bulk({
    new_edits: false,
    docs: [
      { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: winner, feat: { updatedAt: now - 1000 } },
      { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: later, feat: { updatedAt: now } },
    ],
  });
}

/** Merges; the conflict of `busy` takes 1.5 s (the device is busy with it when the other keys' conflicts arrive). */
const busyWith = (asked: string[]): ConflictResolver => async (c) => {
  asked.push(c.key);
  if (c.key === 'busy') await sleep(1_500);
  return merge(c);
};

const localOf = (adapter: 'memory' | 'leveldb') =>
  adapter === 'memory' ? { adapter: 'memory' } : { adapter: 'leveldb', name: join(mkdtempSync(join(tmpdir(), 's25-rdr-')), 'db') };

describe('a local-first read while pulled conflicts are being resolved', () => {
  for (const adapter of ['memory', 'leveldb'] as const) {
    it(`(${adapter}) get() and getParts() never answer the leaf the resolution drops`, async () => {
      const user = uniqueUser('s25-read-resolving');
      const asked: string[] = [];
      const c = clientIn(emu, user, 'local-first', { onConflict: busyWith(asked), local: localOf(adapter) } as never);
      await c.ready();
      await twoLeaves(user, 'busy', { x: 1 }, { y: 2 });
      await twoLeaves(user, 'k', { f: 1 }, { g: 2 });
      await twoLeaves(user, 'doc:p', { f: 1 }, { g: 2 });
      const seen: unknown[] = [];
      await waitFor(
        async () => {
          const [v, parts] = await Promise.all([c.store.get('k'), c.store.getParts('doc')]);
          if (v !== undefined) seen.push(v);
          if (parts.p !== undefined) seen.push(parts.p);
          return JSON.stringify(v) === '{"g":2,"f":1}' && JSON.stringify(parts.p) === '{"g":2,"f":1}';
        },
        20_000,
        'the resolutions read',
      );
      expect(seen.filter((v) => JSON.stringify(v) !== '{"g":2,"f":1}')).toEqual([]);
      // Each conflict asked once (the reads waited for the resolution the pull started, or made the same one).
      await sleep(500);
      expect(asked.filter((k) => k === 'k')).toHaveLength(1);
    }, 60_000);
  }
});

describe('a local-first read behind a resolution that takes longer than the read waits', () => {
  // get() waits 2 s for the sync, busy with another key: it resolves `k` itself when the sync takes longer (2.6 s),
  // or finds what the sync wrote when it reaches `k` meanwhile (after 1.5 s, its resolution 1 s later).
  for (const [name, busyMs] of [
    ['get() resolves the key itself after 2 s; the sync reaching it later asks nothing again', 2_600],
    ['the sync reaches the key while get() waits: get() answers what the sync wrote', 1_500],
  ] as const) {
    it(name, async () => {
      const user = uniqueUser('s25-read-outwaits');
      const asked: string[] = [];
      const resolver: ConflictResolver = async (c) => {
        asked.push(c.key);
        await sleep(c.key === 'busy' ? busyMs : 1_000);
        return merge(c);
      };
      const c = clientIn(emu, user, 'local-first', { onConflict: resolver });
      await c.ready();
      await twoLeaves(user, 'busy', { x: 1 }, { y: 2 });
      await twoLeaves(user, 'k', { f: 1 }, { g: 2 });
      await sleep(300);
      expect(await c.store.get('k')).toEqual({ g: 2, f: 1 });
      await sleep(3_000);
      expect(asked.filter((k) => k === 'k')).toHaveLength(1);
    }, 60_000);
  }

  it('getParts() of 4 conflicted parts waits once for all, not 2 s per part', async () => {
    const user = uniqueUser('s25-parts-outwaits');
    const c = clientIn(emu, user, 'local-first', { onConflict: async (x: Conflict) => (x.key === 'busy' && (await sleep(9_000)), merge(x)) });
    await c.ready();
    await twoLeaves(user, 'busy', { x: 1 }, { y: 2 });
    for (const p of ['a', 'b', 'c', 'd']) await twoLeaves(user, `doc:${p}`, { f: 1 }, { g: 2 });
    await sleep(300);
    const t = Date.now();
    const parts = await c.store.getParts('doc');
    expect(Date.now() - t).toBeLessThan(4_500);
    expect(Object.values(parts).filter((v) => JSON.stringify(v) !== '{"g":2,"f":1}')).toEqual([]);
  }, 60_000);
});

describe('remote mode: getParts() of a key whose part has conflicting leaves', () => {
  it('answers what get() of the part answers (the merge, written)', async () => {
    const user = uniqueUser('s25-parts-remote');
    const asked: string[] = [];
    const c = clientIn(emu, user, 'remote', { onConflict: (x: Conflict) => (asked.push(x.key), merge(x)) });
    await c.ready();
    await twoLeaves(user, 'doc:p', { f: 1 }, { g: 2 });
    expect(await c.store.getParts('doc')).toEqual({ p: { f: 1, g: 2 } });
    expect(asked).toEqual(['doc:p']);
    const doc = (await (await rawDatabase(emu, user)).doc('doc:p'));
    expect({ doc: doc.doc, conflicts: doc._conflicts ?? [] }).toEqual({ doc: { g: 2, f: 1 }, conflicts: [] });
  }, 40_000);

  it('redux getItem of a persisted state whose slice has conflicting leaves answers the merge of that slice', async () => {
    const user = uniqueUser('s25-parts-redux');
    const c = clientIn(emu, user, 'remote', { onConflict: merge });
    await c.ready();
    // Two devices' versions of the slice `todos` (the storage keeps a slice as a part of persist:root).
    await twoLeaves(user, 'persist:root:todos', { a: 1 }, { b: 2 });
    const storage = createPersistStorage(c.store);
    const got = JSON.parse((await storage.getItem('persist:root'))!) as Record<string, string>;
    expect(JSON.parse(got.todos!)).toEqual({ a: 1, b: 2 });
  }, 40_000);
});
