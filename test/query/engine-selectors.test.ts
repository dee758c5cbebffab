/**
 * Selectors the replica's engine (pouchdb-find) and the in-memory matcher (pouchdb-selector-core) read wrong or not at
 * all, in both modes, against the answers CouchDB gives (this file runs on the real server too): `$beginsWith` (CouchDB
 * 3.4; the server runs it, the engines get an anchored `$regex`), a field's `$not`, and conjunctions (`$and` beside
 * other fields, two `$or`s, two `$not`s), which their normalisation dropped terms of.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClient, QueryResult } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, REMOTE, clientFor } from '../attack/helpers.js';

const emu = useEmulator();

const VALUES: Record<string, { name?: unknown; tags?: unknown; n?: number }> = {
  k01: { name: 'apple', n: 1 },
  k02: { name: 'Apple', n: 2 },
  k03: { name: 'apricot', n: 3 },
  k04: { name: 'a.b(c', n: 4 },
  k05: { name: 'aXb(c', n: 5 },
  k06: { name: 'é-clair', n: 6 },
  k07: { name: 'e-clair', n: 7 },
  k08: { name: '😀 smile', n: 8 },
  k09: { name: 42, n: 9 },
  k10: { name: null, n: 10 },
  k11: { n: 11 },
  k12: { name: ['apple'], tags: ['apple pie', 'banana'], n: 12 },
  k13: { name: '', tags: ['cherry'], n: 13 },
  k14: { name: 'ap', n: 14 },
  k15: { name: 'line\nap', n: 15 },
};

async function seeded(): Promise<{ remote: FeatClient; local: FeatClient }> {
  const user = uniqueUser('begins');
  const writer = clientFor(emu, user, REMOTE);
  await writer.ready();
  await writer.store.createIndex({ fields: ['name'] });
  await Promise.all(Object.entries(VALUES).map(([k, v]) => writer.store.set(k, v)));
  const remote = clientFor(emu, user, REMOTE);
  const local = clientFor(emu, user, LOCAL);
  await Promise.all([remote.ready(), local.ready()]);
  await waitFor(async () => (await local.store.keys()).length >= Object.keys(VALUES).length, 20_000, 'the replica to pull the seed');
  return { remote, local };
}

const keys = (rs: QueryResult<unknown>[]) => rs.map((r) => r.key);

describe('find: $beginsWith', () => {
  it('matches the string values that start with the prefix — literally, case-sensitively — in both modes', async () => {
    const cs = await seeded();
    const cases: [Record<string, unknown>, string[], unknown[]?][] = [
      [{ name: { $beginsWith: 'ap' } }, ['k01', 'k03', 'k14']],
      [{ name: { $beginsWith: 'A' } }, ['k02']],
      [{ name: { $beginsWith: 'a.b(' } }, ['k04']],
      [{ name: { $beginsWith: 'é' } }, ['k06']],
      [{ name: { $beginsWith: '😀' } }, ['k08']],
      // Every string (not numbers, null, arrays, or a missing field).
      [{ name: { $beginsWith: '' } }, ['k01', 'k02', 'k03', 'k04', 'k05', 'k06', 'k07', 'k08', 'k13', 'k14', 'k15']],
      // Beside other conditions on the same field and in combinators.
      [{ name: { $beginsWith: 'ap', $regex: 'ricot$' } }, ['k03']],
      [{ name: { $beginsWith: 'a', $regex: '^ap' } }, ['k01', 'k03', 'k14']],
      [{ name: { $beginsWith: 'ap', $ne: 'ap' } }, ['k01', 'k03']],
      [{ $or: [{ name: { $beginsWith: 'Ap' } }, { name: { $beginsWith: '😀' } }] }, ['k02', 'k08']],
      [{ name: { $not: { $beginsWith: 'a' } }, n: { $lt: 9 } }, ['k02', 'k06', 'k07', 'k08']],
      [{ tags: { $elemMatch: { $beginsWith: 'apple' } } }, ['k12']],
      // Sorted: on the index of `name` (the server reads a range of it).
      [{ name: { $beginsWith: 'ap' } }, ['k14', 'k01', 'k03'], ['name']],
    ];
    for (const [selector, expected, sort] of cases) {
      const query = { selector, ...(sort ? { sort: sort as string[] } : {}) };
      const [r, l] = await Promise.all([cs.remote.store.find(query), cs.local.store.find(query)]);
      expect({ selector, remote: keys(r), local: keys(l) }).toEqual({ selector, remote: expected, local: expected });
    }
  });

  it('conjunctions the replica engine got wrong ($and beside other fields, two $or, two $not) answer as on the server', async () => {
    const cs = await seeded();
    const cases: [Record<string, unknown>, string[]][] = [
      [{ n: { $lt: 9 }, $and: [{ name: { $exists: true } }] }, ['k01', 'k02', 'k03', 'k04', 'k05', 'k06', 'k07', 'k08']],
      [{ $and: [{ $or: [{ n: 1 }, { n: 2 }] }, { $or: [{ n: 1 }, { n: 3 }] }] }, ['k01']],
      [{ $and: [{ $not: { n: 1 } }, { $not: { n: 2 } }], n: { $lt: 5 } }, ['k03', 'k04']],
      [{ $or: [{ $and: [{ n: { $gt: 10 } }, { n: { $lt: 12 } }], name: { $exists: false } }, { n: 1 }] }, ['k01', 'k11']],
      [{ $and: [{ n: { $gt: 2 } }, { n: { $gt: 5 } }, { n: { $lt: 8 } }] }, ['k06', 'k07']],
      [{ $and: [{ n: { $in: [1, 2, 3] } }, { n: { $in: [2, 3, 4] } }] }, ['k02', 'k03']],
      [{ n: { $gte: 5, $not: { $in: [6, 7] } }, $nor: [{ n: { $gt: 9 } }] }, ['k05', 'k08', 'k09']],
    ];
    for (const [selector, expected] of cases) {
      const [r, l] = await Promise.all([cs.remote.store.find({ selector }), cs.local.store.find({ selector })]);
      expect({ selector, remote: keys(r), local: keys(l) }).toEqual({ selector, remote: expected, local: expected });
    }
  });

  it('missing fields, null and scalars on the way: CouchDB\'s rules in both modes (negations, $ne/$nin, null in $in, $exists: false)', async () => {
    const user = uniqueUser('missing');
    const writer = clientFor(emu, user, REMOTE);
    await writer.ready();
    const values: Record<string, unknown> = {
      m1: { name: 'x', meta: { kind: 'a' } },
      m2: { name: null, meta: null },
      m3: { meta: 0 },
      m4: { name: 'y', meta: {} },
      m5: 7,
      m6: null,
      m7: { name: 0, meta: { kind: null } },
    };
    await Promise.all(Object.entries(values).map(([k, v]) => writer.store.set(k, v)));
    const remote = clientFor(emu, user, REMOTE);
    const local = clientFor(emu, user, LOCAL);
    await Promise.all([remote.ready(), local.ready()]);
    await waitFor(async () => (await local.store.keys()).length >= 7, 20_000, 'the replica to pull the values');
    const cases: [Record<string, unknown>, string[]][] = [
      [{ name: { $ne: 'x' } }, ['m2', 'm4', 'm7']],
      [{ name: { $nin: ['x'] } }, ['m2', 'm4', 'm7']],
      // CouchDB 3.4.3 fails on null or [] in $in/$nin (500 function_clause) once a database has a json index.
      [{ name: { $in: [null, 'x'] } }, ['m1', 'm2']],
      [{ name: { $nin: [null, 'y', []] } }, ['m1', 'm7']],
      [{ name: { $not: { $in: [null] } }, meta: { $exists: true } }, ['m1', 'm4', 'm7']],
      [{ 'meta.kind': { $exists: false } }, ['m4']],
      [{ 'meta.kind': null }, ['m7']],
      [{ $nor: [{ name: 'x' }] }, ['m2', 'm4', 'm7']],
      [{ $not: { name: { $gt: 'b' } } }, ['m2', 'm7']],
      [{ name: { $not: { $regex: '^x' } } }, ['m2', 'm4', 'm7']],
      [{ meta: { $exists: true }, 'meta.kind': { $ne: 'a' } }, ['m7']],
    ];
    for (const [selector, expected] of cases) {
      const [r, l] = await Promise.all([remote.store.find({ selector }), local.store.find({ selector })]);
      expect({ selector, remote: keys(r), local: keys(l) }).toEqual({ selector, remote: expected, local: expected });
      // This client's pending writes are matched by the same rules: the same answers with every value re-written.
      const again = Object.entries(values).map(([k, v]) => remote.store.set(k, v));
      expect({ selector, pending: keys(await remote.store.find({ selector })) }).toEqual({ selector, pending: expected });
      await Promise.all(again);
    }
  });

  it('pending writes and live queries match it the same way (the in-memory matcher)', async () => {
    const cs = await seeded();
    for (const client of [cs.remote, cs.local]) {
      const seen: string[][] = [];
      const stop = client.store.watchQuery({ selector: { name: { $beginsWith: 'pre.' } } }, (rs) => seen.push(keys(rs)));
      try {
        // Not awaited: find() sees it while it is still queued.
        const writing = client.store.set('p1', { name: 'pre.fix' });
        void client.store.set('p2', { name: 'preXfix' });
        expect(keys(await client.store.find({ selector: { name: { $beginsWith: 'pre.' } } }))).toEqual(['p1']);
        await writing;
        await waitFor(() => seen.at(-1)?.join() === 'p1', 10_000, 'the live query to hold p1');
        await client.store.remove('p1');
        await client.store.remove('p2');
        await waitFor(() => seen.at(-1)?.length === 0, 10_000, 'the live query to empty');
      } finally {
        stop();
      }
    }
  });

  it('a prefix that is not a string, or not well-formed, is refused before any request', async () => {
    const client = clientFor(emu, uniqueUser('begins-bad'), REMOTE);
    await client.ready();
    const before = client.requests.length;
    for (const bad of [1, null, ['a'], { a: 1 }, 'x\ud800']) {
      await expectCode(client.store.find({ selector: { name: { $beginsWith: bad } } }), 'invalid_argument');
    }
    // $keyMapMatch: the local engine lacks it (refused in both modes, rather than answered only while nothing is pending).
    await expectCode(client.store.find({ selector: { m: { $keyMapMatch: { $eq: 'x' } } } }), 'invalid_argument');
    expect(client.requests.length).toBe(before);
  });
});
