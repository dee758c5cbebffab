/**
 * What a differential fuzz against CouchDB 3.4's own `_find` left different, in both modes (remote: the server's
 * `_find`; local-first: pouchdb-find and pouchdb-selector-core through engine.ts). Each expectation is the real
 * server's answer for the same values (`FEAT_BACKEND=real` asserts them there too):
 * - `$eq` beside a range on one field, two bounds on one side: pouchdb-find kept one of them for its index range;
 * - a range that cannot hold on an indexed field: pouchdb-find's planner failed (`bad_response`), CouchDB answers [];
 * - a sort on a field whose condition is `$nin`/`$ne`/`$elemMatch`/`$allMatch` (the emulator and the replica refused);
 * - `$nor` inside `$elemMatch`/`$allMatch` (CouchDB matches nothing), `$not` of an operator without an opposite there;
 * - `$elemMatch` on a field named by an index over arrays holding `null`;
 * - a value in a field's `$or`/`$and`/`$nor` (an equality to CouchDB).
 */
import { appendFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clients, LOCAL, REMOTE } from './parity-harness.js';

const emu = useEmulator();
const client = clients(emu);

const VALUES: Record<string, unknown> = {
  n1: 1, n3: 3, n6: 6, nul: null, sa: 'a', sb: 'b', t: true, eobj: {}, o0: { '0': 'a' },
  a12: [1, 2], a13: [1, 3], a24: [2, 4], a6: [6], a3_4: [3, 4], anulA: [null, 'a'], aAnul: ['a', null], aStr: ['ab', 'a'],
  aAA: [['a'], ['b']], aArrNul: [['a'], null], aObjs: [{ a: 1 }, { a: 4 }], aNulObj: [null, { a: 4 }],
};

/** [selector, sort (runs on an index of it), the ids CouchDB 3.4.3 answers (sorted by id here)]. */
type Case = [Record<string, unknown>, string[] | undefined, string];

const EQ_BESIDE_RANGE: Case[] = [
  [{ x: { $eq: 1, $gt: 5 } }, ['x'], ''],
  [{ x: { $gt: 5, $eq: 1 } }, ['x'], ''],
  [{ x: { $eq: 1, $lt: 0 } }, ['x'], ''],
  [{ x: { $eq: 1, $gte: 2 } }, ['x'], ''],
  [{ x: { $eq: 1, $lte: 0 } }, ['x'], ''],
  [{ x: 1, $and: [{ x: { $gt: 5 } }] }, ['x'], ''],
  [{ x: { $eq: 1, $or: [{ $gt: 5 }] } }, ['x'], ''],
  [{ x: { $eq: 6, $gt: 5 } }, ['x'], 'n6'],
  [{ x: { $eq: 1, $gt: 5 } }, undefined, ''],
  [{ x: { $gt: 1, $gte: 3 } }, ['x'], 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n3,n6,o0,sa,sb'],
  [{ x: { $gte: 3, $gt: 1 } }, ['x'], 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n3,n6,o0,sa,sb'],
  [{ x: { $lt: 9, $lte: 3 } }, ['x'], 'n1,n3,nul,t'],
  [{ x: { $lte: 3, $lt: 9 } }, ['x'], 'n1,n3,nul,t'],
];

const EMPTY_RANGE: Case[] = [
  [{ x: { $gt: 2, $lt: 1 } }, ['x'], ''],
  [{ x: { $gt: 'b', $lt: 'a' } }, ['x'], ''],
  [{ x: { $gt: 2, $lte: 1 } }, [{ x: 'desc' } as never], ''],
  [{ x: { $gt: 2, $lt: 1 } }, undefined, ''],
];

const SORTED_NEGATIONS: Case[] = [
  [{ x: { $nin: [1] } }, ['x'], 'a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n3,n6,nul,o0,sa,sb,t'],
  [{ x: { $nin: [1] } }, [{ x: 'desc' } as never], 'a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n3,n6,nul,o0,sa,sb,t'],
  [{ x: { $ne: 1 } }, ['x'], 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n3,n6,nul,o0,sa,sb,t'],
  [{ x: { $elemMatch: { $gt: 1 } } }, ['x'], 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA'],
  [{ x: { $allMatch: { $gt: 1 } } }, ['x'], 'a24,a3_4,a6,aAA,aObjs,aStr'],
];

const IN_ELEMENTS: Case[] = [
  [{ x: { $allMatch: { $nor: [{ $gt: 2 }] } } }, undefined, ''],
  [{ x: { $elemMatch: { $nor: [{ $gt: 2 }, { $lt: 0 }] } } }, undefined, ''],
  [{ x: { $elemMatch: { $nor: [{ a: 1 }] } } }, undefined, ''],
  [{ x: { $not: { $elemMatch: { $nor: [{ $gt: 2 }] } } } }, undefined, 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n1,n3,n6,nul,o0,sa,sb,t'],
  [{ x: { $elemMatch: { $not: { $mod: [2, 0] } } } }, undefined, 'a12,a13,a3_4,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA'],
  [{ x: { $elemMatch: { $not: { $regex: 'a' } } } }, undefined, 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,anulA'],
  [{ x: { $allMatch: { $not: { $size: 1 } } } }, undefined, 'a12,a13,a24,a3_4,a6,aAnul,aNulObj,aObjs,aStr,anulA'],
  [{ x: { $elemMatch: { '0': 'a' } } }, undefined, 'aAA,aArrNul'],
  [{ x: { $elemMatch: { '0': { $gte: 'a' } } } }, undefined, 'aAA,aArrNul'],
  [{ x: { $elemMatch: { '1': null } } }, undefined, ''],
];

const LITERALS: Case[] = [
  [{ x: { $or: [1, { $gt: 2 }] } }, undefined, 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n1,n3,n6,o0,sa,sb'],
  [{ x: { $or: [1, 'a'] } }, undefined, 'n1,sa'],
  [{ x: { $and: [1, { $gt: 0 }] } }, undefined, 'n1'],
  [{ x: { $nor: [1, 3] } }, undefined, 'a12,a13,a24,a3_4,a6,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA,eobj,n6,nul,o0,sa,sb,t'],
  [{ x: { $or: [[1, 2], null] } }, undefined, 'a12,nul'],
];

const MODES = [
  { name: 'remote', options: REMOTE },
  { name: 'local-first (memory)', options: LOCAL },
] as const;

/** `MANGO_RECORD=<file>`: write the answers to that file instead of asserting them (how the expectations were taken). */
const RECORD = process.env.MANGO_RECORD;

describe.each(MODES)('CouchDB 3.4 answers the differential fuzz left: $name', (mode) => {
  let c: ReturnType<typeof client> | undefined;
  const ready = async () => {
    if (c) return c;
    c = client(uniqueUser('leftovers'), mode.options);
    await c.ready();
    await c.store.setParts('p', Object.fromEntries(Object.entries(VALUES).map(([k, x]) => [k, { x }])));
    return c;
  };
  const answer = async ([selector, sort]: Case): Promise<string> => {
    try {
      const found = await (await ready()).store.find({ prefix: 'p', selector, ...(sort ? { sort } : {}) }, { onWarning: () => undefined });
      return found.map((r) => r.subkey).sort().join(',');
    } catch (e) {
      return isFeatError(e) ? `!${e.code}: ${e.message}` : `!raw: ${String(e)}`;
    }
  };
  const check = async (cases: Case[]) => {
    const got = await Promise.all(cases.map(answer));
    if (RECORD) return appendFileSync(RECORD, `${JSON.stringify({ mode: mode.name, got: cases.map((k, i) => [k[0], k[1], got[i]]) })}\n`);
    expect(cases.map((k, i) => [k[0], k[1], got[i]])).toEqual(cases.map((k) => [k[0], k[1], k[2]]));
  };

  it('$eq beside a range, and two bounds on one side, as CouchDB reads them (an index of the field too)', () => check(EQ_BESIDE_RANGE));
  it('a range that cannot hold answers nothing (no failure)', () => check(EMPTY_RANGE));
  it('a sort on a field whose condition is $nin / $ne / $elemMatch / $allMatch', () => check(SORTED_NEGATIONS));
  it('inside $elemMatch / $allMatch: $nor (never holds), $not of an operator, a field named by an index', () => check(IN_ELEMENTS));
  it("a value in a field's $or / $and / $nor is an equality", () => check(LITERALS));

  it('a $not beside other conditions inside $elemMatch: the answer remotely, a typed refusal locally (never bad_response)', async () => {
    const got = await answer([{ x: { $elemMatch: { $gt: 0, $not: { $mod: [2, 0] } } } }, undefined, '']);
    if (mode.name === 'remote') expect(got).toBe('a12,a13,a3_4,aAA,aAnul,aArrNul,aNulObj,aObjs,aStr,anulA');
    else expect(got).toMatch(/^!invalid_argument: find\(\): local-first mode does not support this \$not inside \$elemMatch/);
  });
});
