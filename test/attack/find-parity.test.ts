/**
 * `store.find` / `watchQuery` as an acceptance suite sees them: the same data, queried from a remote client and from a
 * local-first client of the same user, must give the same answers — the ones the contract promises.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClient, QueryResult } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, MODES, REMOTE, clientFor } from './helpers.js';

const emu = useEmulator();

type V = { name?: unknown; n?: unknown; tags?: unknown; done?: boolean };

/**
 * Writes `values` through a remote client (on the server at once), then opens one client per mode for the user. The
 * sort indexes are made first on the server, so both devices use the same ones (two devices making the same index at
 * once is tested in index-replication.test.ts).
 */
async function seeded(values: Record<string, unknown>, parts: Record<string, Record<string, unknown>> = {}, indexes: string[][] = []) {
  const user = uniqueUser('find');
  const writer = clientFor(emu, user, REMOTE);
  await writer.ready();
  for (const fields of indexes) await writer.store.createIndex({ fields });
  await Promise.all(Object.entries(values).map(([k, v]) => writer.store.set(k, v)));
  for (const [k, p] of Object.entries(parts)) await writer.store.setParts(k, p);
  const remote = clientFor(emu, user, REMOTE);
  const local = clientFor(emu, user, LOCAL);
  await Promise.all([remote.ready(), local.ready()]);
  // The local replica has pulled everything (a new device waits for its first pull; be sure anyway).
  const all = Object.keys(values).length + Object.values(parts).reduce((n, p) => n + Object.keys(p).length, 0);
  await waitFor(async () => (await local.store.keys()).length >= all, 20_000, 'the local replica to pull the seed');
  return { writer, remote, local };
}

const ids = (rs: QueryResult<unknown>[]) => rs.map((r) => (r.subkey === undefined ? r.key : `${r.key}|${r.subkey}`));

/** The same query on both clients: both answers must equal `expected` (ids in order). */
async function both(cs: { remote: FeatClient; local: FeatClient }, query: Parameters<FeatClient['store']['find']>[0], expected: string[]) {
  const [r, l] = await Promise.all([cs.remote.store.find(query), cs.local.store.find(query)]);
  expect({ remote: ids(r), local: ids(l) }).toEqual({ remote: expected, local: expected });
  expect(r).toEqual(l);
}

describe('find: prefixes are exact, in both modes', () => {
  it('regex metacharacters, case, unicode and ":" in the prefix match literally', async () => {
    const cs = await seeded({
      'a.b': { n: 1 },
      aXb: { n: 2 },
      'a.b(c': { n: 3 },
      'a.b(d)': { n: 4 },
      'A.b': { n: 5 },
      'ab|x': { n: 6 },
      'é:1': { n: 7 },
      'e:1': { n: 8 },
      'E:1': { n: 9 },
      '😀/x': { n: 10 },
      '😀?y': { n: 11 },
      '[x]*': { n: 12 },
      'x]': { n: 13 },
      'pre fix': { n: 14 },
      'pre%20fix': { n: 15 },
      '\\d+': { n: 16 },
      '9': { n: 17 },
      'a^b$': { n: 18 },
    });
    await both(cs, { prefix: 'a.b' }, ['a.b', 'a.b(c', 'a.b(d)']);
    await both(cs, { prefix: 'a.b(' }, ['a.b(c', 'a.b(d)']);
    await both(cs, { prefix: 'A' }, ['A.b']);
    // Unsorted results come in key order (code points, as _all_docs gives them on CouchDB too).
    await both(cs, { prefix: 'a' }, ['a.b', 'a.b(c', 'a.b(d)', 'aXb', 'a^b$', 'ab|x']);
    await both(cs, { prefix: 'ab|' }, ['ab|x']);
    // `é:1` is the part `1` of `é` (README: an id's last `:` splits key and subkey).
    await both(cs, { prefix: 'é' }, ['é|1']);
    await both(cs, { prefix: 'e' }, ['e|1']);
    await both(cs, { prefix: 'E' }, ['E|1']);
    // A prefix outside the BMP: right on a real CouchDB; the emulator's `_find` finds nothing for it (left as a known
    // emulator gap, see the session note), so it is checked on the real server only.
    if (process.env.FEAT_BACKEND === 'real') await both(cs, { prefix: '😀' }, ['😀/x', '😀?y']);
    await both(cs, { prefix: '[x]' }, ['[x]*']);
    await both(cs, { prefix: 'pre ' }, ['pre fix']);
    await both(cs, { prefix: '\\d' }, ['\\d+']);
    await both(cs, { prefix: 'a^' }, ['a^b$']);
    await both(cs, { prefix: 'zz' }, []);
  });

  it('a prefix ending inside a part id lists the parts as { key, subkey }; a key prefix does not take a longer key’s parts apart', async () => {
    const cs = await seeded({ solo: { n: 0 } }, { todo: { a: { n: 1 }, 'b:c': { n: 2 } }, 'todo:x': { y: { n: 3 } } });
    await both(cs, { prefix: 'todo' }, ['todo|a', 'todo|b:c', 'todo:x|y']);
    await both(cs, { prefix: 'todo:' }, ['todo:a', 'todo:b%3Ac', 'todo:x|y']);
    await both(cs, { prefix: 'todo:x' }, ['todo:x|y']);
  });
});

// Left out, as known differences between the engines (README "Where the two modes differ"; the server, real or emulated):
// mixed-case string ranges and sorts (ICU collation vs code points), `$regex` over non-ASCII text (bytes vs UTF-16),
// `$not`/`$ne`/`$nor`/`$nin` on a missing field and any condition below a null or scalar value (CouchDB never matches).
describe('find: results agree between the modes', () => {
  it('a sort over mixed JSON types follows CouchDB collation (null < false < true < numbers < strings < arrays < objects), both modes', async () => {
    const cs = await seeded({ o: { n: { a: 1 } }, s: { n: 'x' }, a: { n: [1] }, t: { n: true }, f: { n: false }, z: { n: null }, num: { n: 2 }, neg: { n: -1.5 } }, {}, [['n']]);
    await both(cs, { sort: ['n'] }, ['z', 'f', 't', 'neg', 'num', 's', 'a', 'o']);
    await both(cs, { sort: [{ n: 'desc' }] }, ['o', 'a', 's', 'num', 'neg', 't', 'f', 'z']);
  });

  it('more than 25 matches without limit, sorted desc on two fields, with skip/limit windows', async () => {
    const values: Record<string, unknown> = {};
    for (let i = 0; i < 70; i++) values[`w${String(i).padStart(3, '0')}`] = { n: i % 7, m: i, done: i % 3 === 0 };
    const cs = await seeded(values, {}, [['n', 'm']]);
    const expected = Object.keys(values)
      .map((k) => ({ k, ...(values[k] as { n: number; m: number }) }))
      .sort((a, b) => b.n - a.n || b.m - a.m)
      .map((x) => x.k);
    await both(cs, { prefix: 'w', sort: [{ n: 'desc' }, { m: 'desc' }] }, expected);
    await both(cs, { prefix: 'w', sort: [{ n: 'desc' }, { m: 'desc' }], skip: 30, limit: 30 }, expected.slice(30, 60));
    await both(cs, { prefix: 'w', sort: [{ n: 'desc' }, { m: 'desc' }], skip: 65, limit: 30 }, expected.slice(65));
    await both(cs, { prefix: 'w', skip: 69 }, ['w069']);
    await both(cs, { prefix: 'w', skip: 70 }, []);
    const done = Object.keys(values).filter((k) => (values[k] as V).done);
    await both(cs, { prefix: 'w', selector: { done: true } }, done);
    await both(cs, { prefix: 'w', selector: { done: { $ne: true } }, limit: 26 }, Object.keys(values).filter((k) => !(values[k] as V).done).slice(0, 26));
  });

  it('an expired value never matches, in both modes, and neither does a removed one', async () => {
    const user = uniqueUser('ttl');
    const writer = clientFor(emu, user, REMOTE);
    await writer.ready();
    await writer.store.set('t:short', { n: 1 }, { ttl: 1_500 });
    await writer.store.set('t:long', { n: 2 }, { ttl: 600_000 });
    await writer.store.set('t:gone', { n: 3 });
    await writer.store.remove('t:gone');
    const remote = clientFor(emu, user, REMOTE);
    const local = clientFor(emu, user, LOCAL);
    await Promise.all([remote.ready(), local.ready()]);
    await waitFor(async () => (await local.store.keys('t:')).length >= 2, 20_000, 'pull');
    await waitFor(async () => Date.now() > 0 && (await remote.store.get('t:short')) === undefined, 10_000, 'expiry');
    await both({ remote, local }, { prefix: 't:', selector: { n: { $gt: 0 } } }, ['t:long']);
    await both({ remote, local }, { prefix: 't:' }, ['t:long']);
  });

  it('a value over maxDocumentBytes (chunked) is found, sorted and windowed like the others, both modes', async () => {
    const user = uniqueUser('chunk');
    const opts = { maxDocumentBytes: 40_000 };
    const writer = clientFor(emu, user, { ...REMOTE, ...opts });
    await writer.ready();
    await writer.store.createIndex({ fields: ['n'] });
    const big = (n: number) => ({ n, body: 'x'.repeat(60_000 + n) });
    await writer.store.set('c:1', { n: 1 });
    await writer.store.set('c:2', big(2));
    await writer.store.set('c:3', { n: 3 });
    await writer.store.setParts('c:p', { q: big(4) });
    const remote = clientFor(emu, user, { ...REMOTE, ...opts });
    const local = clientFor(emu, user, { ...LOCAL, ...opts });
    await Promise.all([remote.ready(), local.ready()]);
    await waitFor(async () => (await local.store.get('c:2')) !== undefined && Object.keys(await local.store.getParts('c:p')).length === 1, 20_000, 'pull');
    await both({ remote, local }, { prefix: 'c:', selector: { n: { $gte: 2 } } }, ['c:2', 'c:3', 'c:p|q']);
    await both({ remote, local }, { prefix: 'c:', sort: [{ n: 'desc' }] }, ['c:p|q', 'c:3', 'c:2', 'c:1']);
    await both({ remote, local }, { prefix: 'c:', sort: [{ n: 'desc' }], limit: 2 }, ['c:p|q', 'c:3']);
    await both({ remote, local }, { prefix: 'c:', sort: ['n'], skip: 1, limit: 2 }, ['c:2', 'c:3']);
    const [r] = await remote.store.find<{ body: string }>({ prefix: 'c:2' });
    expect(r?.value.body.length).toBe(60_002);
  });

  it('without sort, results come in key order even where an index of the selector’s field exists (README: "Order: sort, else by key")', async () => {
    const cs = await seeded({ k0: { n: 10 }, k1: { n: 9 }, k2: { n: 8 }, k3: { n: 1 } }, {}, [['n']]);
    await both(cs, { selector: { n: { $gte: 8 } } }, ['k0', 'k1', 'k2']);
    await both(cs, { selector: { n: { $gt: 0 } }, limit: 2 }, ['k0', 'k1']);
  });

  it('the API.md sort example (["prio", { updatedAt: "desc" }]) is accepted', async () => {
    const cs = await seeded({ s1: { prio: 1, updatedAt: 5 }, s2: { prio: 1, updatedAt: 9 }, s3: { prio: 0, updatedAt: 1 } }, {}, [['prio', 'updatedAt']]);
    await both(cs, { sort: ['prio', { updatedAt: 'desc' }] }, ['s3', 's2', 's1']);
  });
});

describe.each(MODES)('find: $name', (mode) => {
  it('malformed queries → invalid_argument before any request', async () => {
    const c = clientFor(emu, uniqueUser('bad'), mode.options);
    await c.ready();
    await c.store.find({}); // loads what find needs
    const before = c.requests.length;
    const bad: unknown[] = [
      null,
      'x',
      { selector: { $nonsense: 1 } },
      { selector: { a: { $nonsense: 1 } } },
      { selector: { a: { $regex: '(' } } },
      { selector: { a: { $in: 'x' } } },
      { selector: [] },
      { sort: 'a' },
      { sort: [{ a: 'up' }] },
      { limit: -1 },
      { limit: 1.5 },
      { skip: -1 },
      { prefix: 3 },
      { unknown: true },
      { selector: { $and: [] } },
      { selector: { a: { $size: -1 } } },
      { selector: { a: { $mod: [0, 1] } } },
    ];
    for (const q of bad) await expectCode(c.store.find(q as never), 'invalid_argument');
    expect(c.requests.slice(before).filter((r) => !r.includes('_changes'))).toEqual([]);
  });

  it('a write not yet awaited is seen by find, and a remove not yet awaited hides the value', async () => {
    const c = clientFor(emu, uniqueUser('pend'), mode.options);
    await c.ready();
    await c.store.set('p:1', { n: 1 });
    await c.store.set('p:2', { n: 2 });
    const w = c.store.set('p:3', { n: 3 });
    const d = c.store.remove('p:1');
    const u = c.store.set('p:2', { n: 20 });
    const found = await c.store.find<{ n: number }>({ prefix: 'p:', sort: ['n'] });
    expect(found.map((r) => [r.key, r.value.n])).toEqual([
      ['p:3', 3],
      ['p:2', 20],
    ]);
    await Promise.all([w, d, u]);
    expect((await c.store.find<{ n: number }>({ prefix: 'p:', sort: ['n'] })).map((r) => r.value.n)).toEqual([3, 20]);
  });

  it('watchQuery: current results first, then only result sets that changed', async () => {
    const c = clientFor(emu, uniqueUser('wq'), mode.options);
    await c.ready();
    await c.store.set('q:a', { n: 1, done: false });
    await c.store.set('q:b', { n: 2, done: true });
    const sets: string[][] = [];
    const stop = c.store.watchQuery<{ n: number }>({ prefix: 'q:', selector: { done: false }, sort: ['n'] }, (rs) => sets.push(rs.map((r) => r.key)));
    try {
      await waitFor(() => sets.length >= 1, 10_000, 'first result');
      expect(sets[0]).toEqual(['q:a']);
      await c.store.set('q:b', { n: 3, done: true }); // stays out: no new set
      await c.store.set('other', { n: 0, done: false }); // outside the prefix
      await c.store.set('q:c', { n: 0, done: false }); // enters first
      await waitFor(() => sets.length >= 2, 10_000, 'second result');
      expect(sets[1]).toEqual(['q:c', 'q:a']);
      await c.store.set('q:a', { n: 5, done: false }); // reorders
      await waitFor(() => sets.length >= 3, 10_000, 'third result');
      expect(sets[2]).toEqual(['q:c', 'q:a']);
      await c.store.remove('q:c');
      await waitFor(() => sets.length >= 4, 10_000, 'fourth result');
      expect(sets[3]).toEqual(['q:a']);
      await c.store.set('q:b', { n: 9, done: true });
      await c.store.flush();
      await new Promise((r) => setTimeout(r, 500));
      expect(sets).toHaveLength(4);
    } finally {
      stop();
    }
  });

  it('watchQuery’s result after each change (this device’s and another’s) equals a fresh find of the same query', async () => {
    const user = uniqueUser('wqf');
    const c = clientFor(emu, user, mode.options);
    await c.ready();
    await c.store.createIndex({ fields: ['name'] });
    for (const [k, name] of [['w1', 'apple'], ['w2', 'Banana'], ['w3', 'cherry']] as const) await c.store.set(k, { name });
    const other = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await other.ready();
    const query = { selector: { name: { $gte: 'B' } }, sort: ['name'] };
    let last: string[] | undefined;
    let count = 0;
    const stop = c.store.watchQuery<{ name: string }>(query, (rs) => {
      last = rs.map((r) => r.value.name);
      count++;
    });
    const fresh = async () => (await c.store.find<{ name: string }>(query)).map((r) => r.value.name);
    const settled = async (what: string) => {
      let want: string[] = [];
      await waitFor(async () => JSON.stringify(last) === JSON.stringify((want = await fresh())), 15_000, `watchQuery to equal find after ${what}`).catch(() => {
        throw new Error(`after ${what}: watchQuery ${JSON.stringify(last)} vs find ${JSON.stringify(want)}`);
      });
    };
    try {
      await waitFor(() => count > 0, 10_000, 'first result');
      await settled('the start');
      await c.store.set('w4', { name: 'avocado' });
      await settled('a local insert');
      await c.store.set('w5', { name: 'Zucchini' });
      await settled('a second local insert');
      await other.store.set('w6', { name: 'banana' });
      await other.sync.waitForPush({ timeout: 15_000 });
      await waitFor(async () => (await c.store.get('w6')) !== undefined, 15_000, 'w6 here');
      await settled('a remote insert');
      await other.store.remove('w2');
      await other.sync.waitForPush({ timeout: 15_000 });
      await waitFor(async () => (await c.store.get('w2')) === undefined, 15_000, 'w2 removed here');
      await settled('a remote removal');
    } finally {
      stop();
    }
  });
});
