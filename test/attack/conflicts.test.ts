/**
 * Two devices of one user writing the same keys: with a merging `onConflict`, nothing is silently lost, every resolution
 * goes through the resolver and is emitted, and the devices converge — in remote mode, local-first, and mixed.
 */
import { describe, expect, it } from 'vitest';
import type { Conflict, FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, REMOTE, clientFor } from './helpers.js';

const emu = useEmulator();

type Bag = { items: string[] };
const union = (c: Conflict): Bag | undefined => {
  const items = new Set<string>();
  for (const side of [c.local, c.remote]) for (const i of (side.value as Bag | undefined)?.items ?? []) items.add(i);
  return { items: [...items].sort() };
};

function device(user: string, options: typeof REMOTE | typeof LOCAL) {
  const calls: string[] = [];
  const events: string[] = [];
  const c = clientFor(emu, user, {
    ...options,
    onConflict: (conflict) => {
      calls.push(conflict.key);
      return union(conflict);
    },
  });
  c.sync.on('conflict', (e) => events.push(e.key));
  return Object.assign(c, { calls, events });
}

const sorted = (xs: string[]) => [...xs].sort();

async function converge(keys: string[], expected: (key: string) => string[], ...cs: FeatClient[]) {
  const state = async () => Promise.all(cs.map(async (c) => Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await c.store.get<Bag>(k)] as const)))));
  const settled = waitFor(
    async () => {
      for (const c of cs) {
        for (const k of keys) {
          const v = await c.store.get<Bag>(k);
          if (JSON.stringify(v?.items ? sorted(v.items) : v) !== JSON.stringify(expected(k))) return false;
        }
      }
      return true;
    },
    30_000,
    'both devices to hold every item',
  );
  const failure = await settled.then(
    () => undefined,
    async () => state(),
  );
  expect(failure, 'what each device holds').toBeUndefined();
}

const pairs = [
  { name: 'remote + remote', a: REMOTE, b: REMOTE },
  { name: 'local-first + local-first', a: LOCAL, b: LOCAL },
  { name: 'remote + local-first', a: REMOTE, b: LOCAL },
] as const;

describe.each(pairs)('two devices writing the same keys: $name', ({ a: optsA, b: optsB }) => {
  it('read-modify-write of the same keys at once: every item of both devices survives, on both', async () => {
    const user = uniqueUser('cf');
    const a = device(user, optsA);
    const b = device(user, optsB);
    await Promise.all([a.ready(), b.ready()]);
    const keys = ['k1', 'k2', 'k3'];
    // Each device adds its own items to each key, interleaved, after reading what it has.
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        [a, b].flatMap((c, ci) =>
          keys.map(async (k) => {
            const cur = (await c.store.get<Bag>(k)) ?? { items: [] };
            await c.store.set(k, { items: [...cur.items, `${ci ? 'b' : 'a'}${round}`] });
          }),
        ),
      );
    }
    await Promise.all([a.sync.waitForPush({ timeout: 20_000 }), b.sync.waitForPush({ timeout: 20_000 })]);
    const all = sorted([0, 1, 2, 3].flatMap((r) => [`a${r}`, `b${r}`]));
    await converge(keys, () => all, a, b);
    // Each call of the resolver was also emitted.
    expect(a.events.length).toBe(a.calls.length);
    expect(b.events.length).toBe(b.calls.length);
    expect(a.calls.length + b.calls.length).toBeGreaterThan(0);
  }, 90_000);

  it('both devices write the same key while the other is unaware (first write, no read): the resolver sees both', async () => {
    const user = uniqueUser('cf2');
    const a = device(user, optsA);
    const b = device(user, optsB);
    await Promise.all([a.ready(), b.ready()]);
    if (optsA === LOCAL) a.sync.pause();
    if (optsB === LOCAL) b.sync.pause();
    await a.store.set('same', { items: ['from-a'] });
    await b.store.set('same', { items: ['from-b'] });
    if (optsA === LOCAL) a.sync.resume();
    if (optsB === LOCAL) b.sync.resume();
    await Promise.all([a.sync.waitForPush({ timeout: 20_000 }), b.sync.waitForPush({ timeout: 20_000 })]);
    await converge(['same'], () => ['from-a', 'from-b'], a, b);
  }, 60_000);

  it('a remove on one device and a concurrent write on the other: the resolver decides, both converge', async () => {
    const user = uniqueUser('cf3');
    const a = device(user, optsA);
    const b = device(user, optsB);
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('r', { items: ['base'] });
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('r')) !== undefined, 20_000, 'b sees r');
    if (optsA === LOCAL) a.sync.pause();
    if (optsB === LOCAL) b.sync.pause();
    await a.store.remove('r');
    await b.store.set('r', { items: ['base', 'kept'] });
    if (optsA === LOCAL) a.sync.resume();
    if (optsB === LOCAL) b.sync.resume();
    await Promise.all([a.sync.waitForPush({ timeout: 20_000 }), b.sync.waitForPush({ timeout: 20_000 })]);
    // union() keeps the write's items whatever the order: the value must survive on both devices.
    await converge(['r'], () => ['base', 'kept'], a, b);
  }, 60_000);
});

describe('a conflicted document on the server (another app wrote a conflicting revision), remote mode', () => {
  /** `k` written by device a (remote), then a conflicting revision that wins replicated in by another app (same user). */
  async function conflicted(user: string) {
    const a = device(user, REMOTE);
    await a.ready();
    await a.store.set('k', { items: ['a0'] });
    const { createFeatApi } = await import('@feat/sdk/api');
    const token = await createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) }).accounts.couchToken();
    const db = `${emu.couchUrl}/${token.dbname}`;
    const put = await fetch(`${db}/_bulk_docs`, {
      method: 'POST',
      headers: { ...token.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ new_edits: false, docs: [{ _id: 'k', _rev: '1-ffffffffffffffffffffffffffffffff', doc: { items: ['other'] }, feat: { updatedAt: Date.now() + 1_000 } }] }),
    });
    expect(put.status).toBe(201);
    return { a, db, token };
  }

  it('a read-modify-write on it never drops a leaf without the resolver; the leaves end resolved', async () => {
    const user = uniqueUser('leaf');
    const { a, db, token } = await conflicted(user);
    const read = (await a.store.get<Bag>('k'))!;
    await a.store.set('k', { items: [...read.items, 'a1'] });
    const b = device(user, REMOTE);
    await b.ready();
    const final = await b.store.get<Bag>('k');
    // Whatever the order of events, the content of both leaves and the new item must survive (union resolver).
    expect(sorted(final?.items ?? [])).toEqual(['a0', 'a1', 'other']);
    const leaves = (await (await fetch(`${db}/k?conflicts=true`, { headers: token.headers })).json()) as { _conflicts?: string[] };
    expect(leaves._conflicts ?? []).toEqual([]);
  });

  it('a resolver that throws does not fail the read: the winner is returned, the failure is an error event, the leaves stay', async () => {
    const user = uniqueUser('leaf-throw');
    const { db, token } = await conflicted(user);
    const b = clientFor(emu, user, {
      ...REMOTE,
      onConflict: () => {
        throw new Error('refuse');
      },
    });
    const errors: string[] = [];
    b.sync.on('error', (e) => errors.push(`${e.code} ${e.key ?? ''}`));
    // CouchDB's winner (the higher revision of the two first revisions).
    expect(await b.store.get<Bag>('k')).toEqual({ items: ['other'] });
    expect(errors).toEqual(['conflict k']);
    const leaves = (await (await fetch(`${db}/k?conflicts=true`, { headers: token.headers })).json()) as { _conflicts?: string[] };
    expect(leaves._conflicts).toHaveLength(1);
    // A client whose resolver works resolves them on its next read.
    const c = device(user, REMOTE);
    expect((await c.store.get<Bag>('k'))?.items).toBeDefined();
    const after = (await (await fetch(`${db}/k?conflicts=true`, { headers: token.headers })).json()) as { _conflicts?: string[] };
    expect(after._conflicts ?? []).toEqual([]);
  });
});
