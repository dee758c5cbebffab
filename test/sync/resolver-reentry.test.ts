/**
 * An `onConflict` resolver that reads the key it resolves through the client ("what does the app show now?"): the
 * read answers the stored winner at once and starts no resolution of its own. Before, each such read resolved the key
 * again — asking the resolver, which read again: one conflict in remote mode made ~2,800 resolver calls, ~300
 * `conflict` and ~1,000 `error` events over 16 s, and the outer `get()` waited out the 10 s bound and answered the
 * winner; local-first 9 calls and 10 s.
 */
import { describe, expect, it } from 'vitest';
import type { Conflict, FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { device } from '../support/devices.js';
import { outcome, rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();
type Obj = Record<string, unknown>;
const merge = (c: Conflict) => ({ ...(c.remote.value as Obj | undefined), ...(c.local.value as Obj | undefined) });

describe('a resolver that reads the key it resolves', () => {
  for (const mode of ['remote', 'local-first'] as const) {
    it(`${mode}: one resolver call, one conflict event, no error, the merge read at once`, async () => {
      const user = uniqueUser('s25-reentry');
      const holder: { c?: FeatClient } = {};
      const calls: unknown[] = [];
      const a = device(emu, user, {
        name: 'a',
        mode,
        extra: {
          maintenance: { enabled: false },
          onConflict: async (c: Conflict) => {
            // The read inside answers the stored winner (CouchDB's: the higher revision).
            calls.push(await holder.c!.store.get(c.key));
            return merge(c);
          },
        },
      });
      holder.c = a;
      await a.ready();
      const now = Date.now();
      await (await rawDatabase(emu, user)).bulk({
        new_edits: false,
        docs: [
          { _id: 'k', _rev: `1-${'f'.repeat(32)}`, doc: { f: 1 }, feat: { updatedAt: now - 1000 } },
          { _id: 'k', _rev: `1-${'a'.repeat(32)}`, doc: { g: 2 }, feat: { updatedAt: now } },
        ],
      });
      if (mode === 'local-first') await sleep(300);
      const got = await outcome(a.store.get('k'), 40_000);
      await sleep(2_000);
      expect({ how: got.how, value: got.value, fast: got.ms < 5_000, calls, conflicts: a.conflicts.length, errors: a.errors.map((e) => e.message) }).toEqual({
        how: 'resolved',
        value: { f: 1, g: 2 },
        fast: true,
        calls: [{ f: 1 }],
        conflicts: 1,
        errors: [],
      });
    }, 60_000);
  }

  it('remote: a read of the key after the resolver\'s first await: one resolver call, the read waits a bounded while', async () => {
    const user = uniqueUser('s25-reentry-late');
    const holder: { c?: FeatClient } = {};
    let calls = 0;
    const a = device(emu, user, {
      name: 'a',
      mode: 'remote',
      extra: {
        onConflict: async (c: Conflict) => {
          calls++;
          await sleep(10);
          await holder.c!.store.get(c.key);
          return merge(c);
        },
      },
    });
    holder.c = a;
    await a.ready();
    await twoLeaves(user);
    const got = await outcome(a.store.get('k'), 40_000);
    await sleep(1_000);
    expect({ how: got.how, value: got.value, bounded: got.ms < 6_000, calls, errors: a.errors.length }).toEqual({ how: 'resolved', value: { f: 1, g: 2 }, bounded: true, calls: 1, errors: 0 });
  }, 60_000);

  it('remote: a part\'s resolver that reads all parts of its key (getParts) is answered at once', async () => {
    const user = uniqueUser('s25-reentry-parts');
    const holder: { c?: FeatClient } = {};
    let inner = -1;
    let seen: unknown;
    const a = device(emu, user, {
      name: 'a',
      mode: 'remote',
      extra: {
        onConflict: async (c: Conflict) => {
          const t = Date.now();
          seen = await holder.c!.store.getParts('doc');
          inner = Date.now() - t;
          return merge(c);
        },
      },
    });
    holder.c = a;
    await a.ready();
    await twoLeaves(user, 'doc:p');
    expect(await a.store.getParts('doc')).toEqual({ p: { f: 1, g: 2 } });
    expect({ seen, fast: inner >= 0 && inner < 1_000 }).toEqual({ seen: { p: { f: 1 } }, fast: true });
  }, 60_000);

  it('remote: reads of a conflicted key at once ask the resolver once, and all answer the merge', async () => {
    const user = uniqueUser('s25-reentry-many');
    let calls = 0;
    const a = device(emu, user, { name: 'a', mode: 'remote', extra: { onConflict: async (c: Conflict) => (calls++, await sleep(300), merge(c)) } });
    await a.ready();
    await twoLeaves(user);
    const all = await Promise.all([1, 2, 3, 4].map(() => a.store.get('k')));
    expect({ all, calls, conflicts: a.conflicts.length }).toEqual({ all: [1, 2, 3, 4].map(() => ({ f: 1, g: 2 })), calls: 1, conflicts: 1 });
  }, 60_000);
});

async function twoLeaves(user: string, id = 'k') {
  const now = Date.now();
  await (await rawDatabase(emu, user)).bulk({
    new_edits: false,
    docs: [
      { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { f: 1 }, feat: { updatedAt: now - 1000 } },
      { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: { g: 2 }, feat: { updatedAt: now } },
    ],
  });
}
