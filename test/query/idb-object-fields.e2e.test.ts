/**
 * `store.find()` over a field holding values of every JSON type, in Chromium: the `indexeddb` replica (whose native
 * IndexedDB indexes cannot hold objects, booleans or `null` as keys: query/idb-index.ts), the `idb` replica and remote
 * mode (the server's `_find`: CouchDB's collation, null < false < true < numbers < strings < arrays < objects) must
 * give the same answers, in the same order — remote mode's is the reference.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { uniqueUser } from '../support/backend.js';
import { APP_PAGE, openApp, type App } from '../attack/browser-page.js';

/** The page's globals (a function given to `page.evaluate` runs there: it names them itself). */
const app = () => self as unknown as App;

warnIfNoChromium('the find over object fields tests');

/**
 * The values (`c/<subkey>`), `v` of every type. Strings that ICU and code units order alike (pouchdb's engines compare
 * code units, CouchDB by ICU). Some hold a field before `v` that decides whether the adapter rewrites the document
 * for its indexes (an object first: it looks no further), and `v_2` is a field name it escapes.
 */
const VALUES: Record<string, Record<string, unknown>> = {
  null: { v: null },
  false: { v: false },
  true: { v: true },
  neg: { v: -1e300 },
  minus1: { v: -1 },
  zero: { v: 0 },
  half: { v: 1.5 },
  big: { v: 1e300 },
  empty: { v: '' },
  a: { v: 'a' },
  ab: { v: 'ab' },
  b: { v: 'b' },
  arr0: { v: [] },
  arr1: { v: [1] },
  arr12: { v: [1, 2] },
  arrA: { v: ['a'] },
  arrNull: { v: [null] },
  arrTrue1: { v: [true, 1] },
  arrObj: { v: [{ a: 1 }] },
  obj0: { v: {} },
  objANull: { v: { a: null } },
  objA1: { v: { a: 1 } },
  objA1b: { v: { a: 1 } },
  objA2: { v: { a: 2 } },
  objAArr: { v: { a: [1] } },
  objAObj: { v: { a: { b: 1 } } },
  objB0: { v: { b: 0 } },
  objDeep: { v: { a: { b: { c: [true, null] } } } },
  wFalse: { w: [1], v: false },
  wNull: { w: { x: 1 }, v: null },
  wTrue: { w: ['x'], v: true },
  wArr: { w: [2], v: [null, 'x'] },
  wObjFalse: { w: { x: 1 }, v: false },
  wObjStr: { w: { x: 1 }, v_2: 'm' },
  str2: { v_2: 'n' },
  missing: { w: 1 },
  missingNull: { w: null },
};

/** The queries (over `c`), each run as written; sorted on `v` unless it says otherwise. */
type Q = { selector: Record<string, unknown>; sort?: (string | Record<string, 'asc' | 'desc'>)[]; limit?: number; skip?: number };
const asc = ['v'];
const desc = [{ v: 'desc' as const }];
const QUERIES: Record<string, Q> = {
  'exists asc': { selector: { v: { $exists: true } }, sort: asc },
  'exists desc': { selector: { v: { $exists: true } }, sort: desc },
  'exists asc skip 2 limit 5': { selector: { v: { $exists: true } }, sort: asc, skip: 2, limit: 5 },
  'exists desc skip 2 limit 5': { selector: { v: { $exists: true } }, sort: desc, skip: 2, limit: 5 },
  'exists desc limit 3': { selector: { v: { $exists: true } }, sort: desc, limit: 3 },
  'gt null asc': { selector: { v: { $gt: null } }, sort: asc },
  'gt null desc limit 4': { selector: { v: { $gt: null } }, sort: desc, limit: 4 },
  'gt "b" asc': { selector: { v: { $gt: 'b' } }, sort: asc },
  'gt "b" desc': { selector: { v: { $gt: 'b' } }, sort: desc },
  'gt [1] asc': { selector: { v: { $gt: [1] } }, sort: asc },
  'gte {} asc': { selector: { v: { $gte: {} } }, sort: asc },
  'gt {a:1} desc': { selector: { v: { $gt: { a: 1 } } }, sort: desc },
  'gt {a:1} lt {b:0} asc': { selector: { v: { $gt: { a: 1 }, $lt: { b: 0 } } }, sort: asc },
  'lt {} desc': { selector: { v: { $lt: {} } }, sort: desc },
  'lte [] asc': { selector: { v: { $lte: [] } }, sort: asc },
  'gte false lte true asc': { selector: { v: { $gte: false, $lte: true } }, sort: asc },
  'lt 0 asc': { selector: { v: { $lt: 0 } }, sort: asc },
  'type object asc': { selector: { v: { $type: 'object' } }, sort: asc },
  'type array desc': { selector: { v: { $type: 'array' } }, sort: desc },
  'eq {a:1}': { selector: { v: { $eq: { a: 1 } } } },
  'eq {a:1} asc': { selector: { v: { $eq: { a: 1 } } }, sort: asc },
  'eq [1,2]': { selector: { v: { $eq: [1, 2] } } },
  'eq {}': { selector: { v: { $eq: {} } } },
  'eq false': { selector: { v: false } },
  'eq null': { selector: { v: null } },
  'eq true limit 1': { selector: { v: true }, limit: 1 },
  'v_2 range asc': { selector: { v_2: { $gte: 'a', $lte: 'z' } }, sort: ['v_2'] },
  'v_2 eq': { selector: { v_2: 'm' } },
  'eq "a"': { selector: { v: 'a' } },
  'eq 1.5': { selector: { v: 1.5 } },
  'gte 0 lte "b" desc skip 1 limit 3': { selector: { v: { $gte: 0, $lte: 'b' } }, sort: desc, skip: 1, limit: 3 },
  'v.a exists': { selector: { 'v.a': { $exists: true } } },
  'v.a gt 0': { selector: { 'v.a': { $gt: 0 } } },
};

type Answers = Record<string, string[] | string>;

describe.skipIf(!hasChromium)('find over a field of every JSON type (Chromium): indexeddb and idb replicas answer as the server does', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  /** Writes the values through a client of `options` (its own user), makes the index of `v`, runs every query. */
  async function answers(context: BrowserContext, options: Record<string, unknown>): Promise<Answers> {
    const { page } = await openApp(context, origin, emu, uniqueUser('idbobj'), undefined, options);
    return page.evaluate(
      async ({ values, queries }) => {
        const { store } = app().client;
        await store.setParts('c', values);
        await store.createIndex({ fields: ['v'] });
        const out: Record<string, string[] | string> = {};
        for (const [name, q] of Object.entries(queries)) {
          try {
            const rows = await store.find({ prefix: 'c', ...(q as object) } as Parameters<typeof store.find>[0], { onWarning: () => {} });
            out[name] = rows.map((r) => r.subkey!);
          } catch (error) {
            out[name] = `${(error as { code?: string }).code}: ${(error as Error).message}`;
          }
        }
        return out;
      },
      { values: VALUES, queries: QUERIES },
    );
  }

  it('every query: the same documents in the same order as remote mode', async () => {
    const [indexeddb, idb, remote] = await Promise.all([
      harness.newContext().then((c) => answers(c, { local: { adapter: 'indexeddb' } })),
      harness.newContext().then((c) => answers(c, { local: { adapter: 'idb' } })),
      harness.newContext().then((c) => answers(c, { mode: 'remote' })),
    ]);
    // The reference finds what each query should: not a comparison of empty answers.
    expect(remote['exists asc']).toHaveLength(Object.values(VALUES).filter((v) => 'v' in v).length);
    expect(remote['type object asc']).toContain('objDeep');
    expect(remote['eq {a:1}']).toEqual(['objA1', 'objA1b']);
    expect({ indexeddb, idb }).toEqual({ indexeddb: remote, idb: remote });
  }, 120_000);
});
