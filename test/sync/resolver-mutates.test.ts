/**
 * An `onConflict` resolver that merges by changing a side's value in place and returning it (`Object.assign(local.value,
 * remote.value)`): the merge is written, no side is lost. The resolver is shown copies; the SDK compares its answer
 * with the sides as stored. Before, the mutated side compared equal to the answer: "nothing to write", the other
 * leaf deleted — the merge written nowhere.
 */
import { describe, expect, it } from 'vitest';
import type { ConflictResolver } from '@feat/sdk';
import { clientIn, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { raw } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();
const bulk = async (user: string, body: string) => (await rawDatabase(emu, user)).bulk(body);
type Obj = Record<string, unknown>;

/** Two live leaves of `k`: CouchDB's winner (the higher revision) holds `winner`, the later write `later`. */
async function twoLeaves(user: string, winner: string, later: string) {
  const now = Date.now();
  await bulk(
    user,
    `{"new_edits":false,"docs":[{"_id":"k","_rev":"1-${'f'.repeat(32)}","feat":{"updatedAt":${now - 60_000}},"doc":${winner}},` +
      `{"_id":"k","_rev":"1-${'a'.repeat(32)}","feat":{"updatedAt":${now}},"doc":${later}}]}`,
  );
}

const liveValues = async (user: string) => (await (await raw(emu, user)).leaves('k')).filter((l) => !l.deleted).map((l) => l.doc);

describe('a resolver that merges into a side in place', () => {
  const intoLocal: ConflictResolver = ({ local, remote }) => Object.assign(local.value as Obj, remote.value as Obj);
  const intoRemote: ConflictResolver = ({ local, remote }) => Object.assign(remote.value as Obj, local.value as Obj);

  for (const [name, resolver] of [
    ['into local.value', intoLocal],
    ['into remote.value', intoRemote],
  ] as const) {
    it(`remote mode, conflicting leaves read: merged ${name}, the merge is the one live leaf`, async () => {
      const user = uniqueUser('s25-mut-read');
      const c = clientIn(emu, user, 'remote', { onConflict: resolver });
      await c.ready();
      await twoLeaves(user, '{"a":1}', '{"b":2}');
      const errors: string[] = [];
      c.sync.on('error', (e) => errors.push(e.code));
      expect(await c.store.get('k')).toEqual({ a: 1, b: 2 });
      await waitFor(async () => (await liveValues(user)).length === 1, 10_000, 'one live leaf');
      expect(await liveValues(user)).toEqual([{ a: 1, b: 2 }]);
      expect(errors).toEqual([]);
    }, 60_000);

    it(`local-first, a conflict pulled: merged ${name}, the merge reaches the server`, async () => {
      const user = uniqueUser('s25-mut-pull');
      const c = clientIn(emu, user, 'local-first', { onConflict: resolver });
      await c.ready();
      await twoLeaves(user, '{"a":1}', '{"b":2}');
      const merged = async () => {
        const live = await liveValues(user);
        return live.length === 1 && (live[0] as Obj).a === 1 && (live[0] as Obj).b === 2;
      };
      await waitFor(merged, 20_000, 'the merge alone on the server');
      expect(await c.store.get('k')).toEqual({ a: 1, b: 2 });
    }, 60_000);

    it(`remote mode, a write that meets another client's version: merged ${name}, the merge is written`, async () => {
      const user = uniqueUser('s25-mut-write');
      const other = clientIn(emu, user, 'remote');
      const c = clientIn(emu, user, 'remote', { onConflict: resolver });
      await c.ready();
      await c.store.set('k', { a: 1 });
      await other.store.set('k', { b: 2 }); // c has not seen it: c's next write meets it
      await c.store.set('k', { c: 3 });
      const want = name === 'into local.value' ? { c: 3, b: 2 } : { b: 2, c: 3 };
      expect(await other.store.get('k')).toEqual(want);
    }, 60_000);
  }

  it('a deep side (600 levels, another app\'s) merged into the shallow winner in place: refused, both leaves stay', async () => {
    const user = uniqueUser('s25-mut-deep');
    const deep = `${'['.repeat(600)}"deep"${']'.repeat(600)}`;
    const c = clientIn(emu, user, 'remote', {
      onConflict: ({ local, remote }) => {
        const base = (Array.isArray(local.value) ? remote.value : local.value) as Obj;
        base.merged = base === local.value ? remote.value : local.value;
        return base;
      },
    });
    await c.ready();
    await twoLeaves(user, '{"a":1}', deep);
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(e.code));
    expect(await c.store.get('k')).toEqual({ a: 1 });
    await sleep(500);
    expect(errors).toContain('conflict');
    const live = await liveValues(user);
    expect(live).toHaveLength(2);
    expect(JSON.stringify(live)).toContain('deep');
  }, 60_000);
});
