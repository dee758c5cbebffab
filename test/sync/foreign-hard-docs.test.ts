/**
 * Documents another app wrote straight to the user's database that a local replica cannot take as they come (README
 * "Values", "Conflicts"): the pull never wedges the replica on them.
 * - A value nested deeper than a replica can write (CouchDB stores a million levels; the emulator at most 2,000): left
 *   out of the replica with ONE `invalid_value` error event naming the key; the other keys read, later changes arrive,
 *   writes are pushed. Up to 1,000 levels it is held and reads. (It once reached the adapter, whose write threw a
 *   RangeError in its own callbacks: the replica never answered again.)
 * - One key with 1,500 conflicting branches (`new_edits: false`): resolved on the server by the device that pulls it,
 *   its live result alone pulled, the same on two devices (memory and LevelDB replicas), other keys read. (It once
 *   overflowed the stack inside the adapter's write: wedged.)
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();

/** The deepest value a local replica holds (src/sync/live-pull.ts `MAX_PULLED_DEPTH`). */
const HELD = 1_000;
/** Deeper than a replica holds: 5,000 levels broke the replica's write on CouchDB; the emulator stores up to 2,000. */
const DEEP = ON_REAL ? 5_000 : 1_500;
const arrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const depthOf = (v: unknown): number => {
  let d = 0;
  for (let x = v; Array.isArray(x); x = x[0] as unknown) d++;
  return d;
};

/** Another app's `_bulk_docs` (raw JSON: the deep value is never parsed here), with the user's proxy headers. */
const foreignBulk = async (user: string, body: string) => (await rawDatabase(emu, user)).bulk(body);

describe('a document nested deeper than a local replica holds, written by another app', () => {
  for (const adapter of ['memory', 'leveldb'] as const) {
    it(`${adapter}: left out with one invalid_value naming the key; the rest syncs, reads and pushes`, async () => {
      const user = uniqueUser(`deep-${adapter}`);
      const r = device(emu, user, { name: 'r', mode: 'remote' });
      await r.ready();
      await foreignBulk(user, `{"docs":[{"_id":"deep","doc":${arrays(DEEP)}},{"_id":"held","doc":${arrays(HELD)}},{"_id":"good","doc":"ok"}]}`);
      const l = device(emu, user, { name: 'l', adapter, extra: { initialSyncTimeout: 30_000, maintenance: { enabled: false } } });
      await l.ready();
      const t0 = performance.now();
      expect(await l.store.get('good')).toBe('ok');
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(depthOf(await l.store.get('held'))).toBe(HELD);
      expect(await l.store.get('deep')).toBeUndefined();
      // Later changes come through the live pull, past it.
      await foreignBulk(user, '{"docs":[{"_id":"later","doc":2}]}');
      await waitFor(async () => (await l.store.get('later')) === 2, 20_000, 'the later change pulled');
      await l.store.set('after', 1);
      await l.sync.waitForPush({ timeout: 20_000 });
      expect(await l.sync.pending()).toBe(0);
      expect(await r.store.get('after')).toBe(1);
      // Remote mode reads it.
      expect(depthOf(await r.store.get('deep'))).toBe(DEEP);
      expect(l.errors.map((e) => [e.code, e.key])).toEqual([['invalid_value', 'deep']]);
      expect(l.errors[0]!.message).toMatch(/nested deeper than 1000 levels, which this device's replica cannot hold/);
    }, 90_000);
  }
});

/**
 * 1,500 branches wedged a replica on CouchDB. The emulator (PouchDB) writes each branch of one document at a cost that
 * grows with their number squared — 1,500 block its event loop for minutes — so it gets 300: still more leaves than a
 * replica takes as they come (src/sync/live-pull.ts `MAX_LEAVES`, 100).
 */
const N = ON_REAL ? 1_500 : 300;

describe(`one key with ${N} conflicting branches another writer left`, () => {
  it('two local-first devices (memory, LevelDB) pull it, other keys read, and it resolves to one leaf everywhere', async () => {
    const user = uniqueUser('branches');
    const r = device(emu, user, { name: 'r', mode: 'remote' });
    await r.ready();
    await (await rawDatabase(emu, user)).branches('k', N, Date.now() - 60_000);
    await foreignBulk(user, '{"docs":[{"_id":"other","doc":"ok"}]}');
    const extra = { initialSyncTimeout: 60_000, maintenance: { enabled: false } };
    const a = device(emu, user, { name: 'a', extra });
    const b = device(emu, user, { name: 'b', adapter: 'leveldb', extra });
    await Promise.all([a.ready(), b.ready()]);
    for (const d of [a, b]) {
      expect(await d.store.get('other')).toBe('ok');
      expect(await d.store.get('k')).toEqual({ i: N - 1 });
    }
    await a.store.set('after', 1);
    await a.sync.waitForPush({ timeout: 60_000 });
    const { url, headers } = await rawDatabase(emu, user);
    const live = async () => {
      const res = (await (await fetch(`${url}/k?conflicts=true`, { headers })).json()) as { _conflicts?: string[] };
      return 1 + (res._conflicts?.length ?? 0);
    };
    await waitFor(async () => (await live()) === 1, 120_000, 'one live leaf on the server');
    await waitFor(async () => (await b.store.get('after')) === 1, 30_000, 'b pulled the write');
    for (const d of [a, b]) {
      await waitFor(async () => (await d.sync.pending()) === 0, 60_000, `${d.name}: pending() 0`);
      expect(await d.store.get('k')).toEqual({ i: N - 1 });
    }
    expect(await r.store.get('k')).toEqual({ i: N - 1 });
    expect([...a.errors, ...b.errors].map((e) => e.code)).toEqual([]);
  }, 300_000);
});
