/**
 * What `_find` matches and in which order, as CouchDB 3.4.3 answers it — measured on the real server, asserted on
 * whichever backend runs (`FEAT_BACKEND=real` for the real stack): ICU collation of strings in ranges, sorts and values
 * compared inside arrays; no match below a `null` or scalar value (not even `$exists: false`); `$ne`/`$nin`/`$not`/
 * `$nor` never matching a missing field; `$regex` over UTF-8 bytes; index order without a sort; every operator.
 * Then the same rules through the public API: `store.find` in remote mode.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { uniqueUser } from '../support/backend.js';
import { couch, signUp } from '../emulator/helpers.js';

/** The corpus: mixed case and accents, numbers, null, missing fields, scalars where objects are expected, arrays. */
const CORPUS: Record<string, Record<string, unknown>> = {
  a01: { name: 'apple', n: 1, tags: ['x', 'y'], obj: { k: 'v', deep: { z: 1 } } },
  a02: { name: 'Apple', n: 2, tags: ['y'], obj: null },
  a03: { name: 'banana', n: 3.5, tags: [], obj: 'scalar' },
  a04: { name: 'Zed', n: -1, tags: ['x', 'X', 'é'], obj: { k: 'V' } },
  a05: { name: 'éclair', n: 10, obj: { k: null } },
  a06: { name: 'eclair', n: 0, obj: { deep: 'flat' } },
  a07: { name: 'Éclair', n: null, obj: [{ k: 'v' }] },
  a08: { name: 'zed', n: true },
  a09: { name: null, n: '5' },
  a10: { n: [1, 2], tags: ['x'] },
  a11: { name: 'a b', n: { x: 1 } },
  a12: { name: 'ab', obj: {} },
  a13: { name: '10', n: 7 },
  a14: { name: '9', n: 8 },
  a15: { name: ['apple'], n: 21 },
  a16: { name: { first: 'x' } },
  a17: { name: 'é', n: 4 },
  a18: { name: 'e\u0301', n: 5 },
  a19: { name: 'résumé', n: -2.5, tags: [{ k: 'a' }, { k: 'B' }] },
  a20: { name: 'Resume', n: '10', tags: [{ k: 'b' }] },
  a21: { name: 'resume', n: 'Apple', tags: [['x'], 'x'] },
  a22: { name: '_under', n: [1], obj: { k: ['v'] } },
  a23: { name: '-dash', n: [1, 'a'], obj: { 'dot.ted': 1, k: 'v' } },
  a24: { name: '😀', n: {} },
  a25: { name: '中文', n: 1e21 },
  a26: { name: '', n: false },
};

/** [what, the `_find` body (limit 100 unless given), the ids CouchDB 3.4.3 answers, in its order]. */
const CASES: [string, Record<string, unknown>, string[]][] = [
  // 1. Strings by ICU collation: in ranges, in sorts, and inside arrays and objects compared as values.
  ['$gt on a string (index on doc.name: its order)', { selector: { 'doc.name': { $gt: 'apple' } } }, ['a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15', 'a16']],
  ['$gte/$lt between "a" and "b"', { selector: { 'doc.name': { $gte: 'a', $lt: 'b' } } }, ['a11', 'a12', 'a01', 'a02']],
  ['$lt "Zed"', { selector: { 'doc.name': { $lt: 'Zed' } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a01', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08']],
  ['$gt "Z"', { selector: { 'doc.name': { $gt: 'Z' } } }, ['a08', 'a04', 'a25', 'a15', 'a16']],
  ['sort asc on strings', { selector: { 'doc.name': { $gt: null } }, sort: ['doc.name'] }, ['a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a01', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15', 'a16']],
  ['sort desc on strings', { selector: { 'doc.name': { $gt: null } }, sort: [{ 'doc.name': 'desc' }] }, ['a16', 'a15', 'a25', 'a04', 'a08', 'a19', 'a20', 'a21', 'a07', 'a05', 'a06', 'a18', 'a17', 'a03', 'a02', 'a01', 'a12', 'a11', 'a14', 'a13', 'a24', 'a23', 'a22', 'a26']],
  ['sort with skip and limit', { selector: { 'doc.name': { $gt: null } }, sort: ['doc.name'], skip: 2, limit: 3 }, ['a23', 'a24', 'a13']],
  ['sort asc over mixed types', { selector: { 'doc.n': { $gt: null } }, sort: ['doc.n'] }, ['a26', 'a08', 'a19', 'a04', 'a06', 'a01', 'a02', 'a03', 'a17', 'a18', 'a13', 'a14', 'a05', 'a15', 'a25', 'a20', 'a09', 'a21', 'a22', 'a10', 'a23', 'a24', 'a11']],
  ['$gt an array: arrays compare element by element, objects above', { selector: { 'doc.name': { $gt: ['Apple'] } } }, ['a16']],
  ['$lt an array', { selector: { 'doc.name': { $lt: ['b'] } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a01', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15']],
  ['$eq on a string: canonically equivalent spellings', { selector: { 'doc.name': 'é' } }, ['a17', 'a18']],
  ['$elemMatch with a range on strings', { selector: { 'doc.tags': { $elemMatch: { $gt: 'x' } } } }, ['a01', 'a02', 'a04', 'a19', 'a20', 'a21']],
  ['$allMatch with a range on strings', { selector: { 'doc.tags': { $allMatch: { $lt: 'y' } } } }, ['a04', 'a10']],
  ['$in on strings', { selector: { 'doc.name': { $in: ['apple', 'Zed', 'nope'] } } }, ['a01', 'a04', 'a15']],
  ['$in on an array field', { selector: { 'doc.tags': { $in: ['X', 'é'] } } }, ['a04']],
  ['$or of a string range and a number range', { selector: { $or: [{ 'doc.name': { $lt: 'b' } }, { 'doc.n': { $gt: 20 } }] } }, ['a01', 'a02', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a20', 'a21', 'a22', 'a23', 'a24', 'a25', 'a26']],
  // 2. Missing fields and paths through null or scalars.
  ['$ne never matches a missing field', { selector: { 'doc.name': { $ne: 'apple' } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15', 'a16']],
  ['$nin never matches a missing field', { selector: { 'doc.name': { $nin: ['apple', 'Zed'] } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a25', 'a16']],
  ['$not never matches a missing field', { selector: { 'doc.name': { $not: { $eq: 'apple' } } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15', 'a16']],
  ['$not of $regex', { selector: { 'doc.name': { $not: { $regex: '^a' } } } }, ['a09', 'a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25', 'a15', 'a16']],
  ['$nor never matches a missing field', { selector: { $nor: [{ 'doc.name': 'apple' }, { 'doc.n': 1 }] } }, ['a07', 'a26', 'a08', 'a19', 'a04', 'a06', 'a02', 'a03', 'a17', 'a18', 'a13', 'a14', 'a05', 'a15', 'a25', 'a20', 'a09', 'a21', 'a22', 'a23', 'a24', 'a11']],
  ['$exists false', { selector: { 'doc.name': { $exists: false } } }, ['a10']],
  ['$not $exists true', { selector: { $not: { 'doc.name': { $exists: true } } } }, ['a10']],
  ['$exists false below null, scalars, arrays, objects', { selector: { 'doc.obj.k': { $exists: false } } }, ['a06', 'a08', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a16', 'a17', 'a18', 'a19', 'a20', 'a21', 'a24', 'a25', 'a26']],
  ['$exists false two levels below', { selector: { 'doc.obj.deep.z': { $exists: false } } }, ['a04', 'a05', 'a08', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a16', 'a17', 'a18', 'a19', 'a20', 'a21', 'a22', 'a23', 'a24', 'a25', 'a26']],
  ['$exists true below', { selector: { 'doc.obj.k': { $exists: true } } }, ['a01', 'a04', 'a05', 'a22', 'a23']],
  ['$ne below null and scalars', { selector: { 'doc.obj.k': { $ne: 'v' } } }, ['a04', 'a05', 'a22']],
  ['an array entered by its index', { selector: { 'doc.obj.0.k': 'v' } }, ['a07']],
  ['a sub-object of fields is a condition on each', { selector: { doc: { obj: { k: 'v' } } } }, ['a01', 'a23']],
  ['$eq null', { selector: { 'doc.obj': null } }, ['a02']],
  // Other operators.
  ['$all', { selector: { 'doc.tags': { $all: ['x', 'y'] } } }, ['a01']],
  ['$size 0', { selector: { 'doc.tags': { $size: 0 } } }, ['a03']],
  ['$type number', { selector: { 'doc.n': { $type: 'number' } } }, ['a19', 'a04', 'a06', 'a01', 'a02', 'a03', 'a17', 'a18', 'a13', 'a14', 'a05', 'a15', 'a25']],
  ['$type string', { selector: { 'doc.name': { $type: 'string' } } }, ['a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a01', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25']],
  ['$type object', { selector: { 'doc.obj': { $type: 'object' } } }, ['a01', 'a04', 'a05', 'a06', 'a12', 'a22', 'a23']],
  ['$mod', { selector: { 'doc.n': { $mod: [2, 0] } } }, ['a06', 'a02', 'a17', 'a14', 'a05']],
  ['$keyMapMatch', { selector: { 'doc.obj': { $keyMapMatch: { $eq: 'deep' } } } }, ['a01', 'a06']],
  ['$beginsWith (bytes, case-sensitive)', { selector: { 'doc.name': { $beginsWith: 'a' } } }, ['a11', 'a12', 'a01']],
  // 3. $regex over UTF-8 bytes.
  ['$regex: "." is one byte', { selector: { 'doc.name': { $regex: '^.clair$' } } }, ['a06']],
  ['$regex: two bytes', { selector: { 'doc.name': { $regex: '^..$' } } }, ['a13', 'a12', 'a17']],
  ['$regex: a literal non-ASCII character', { selector: { 'doc.name': { $regex: '^é' } } }, ['a17', 'a05']],
  ['sort asc over accents, case, punctuation, scripts', { selector: { 'doc.name': { $type: 'string' } }, sort: ['doc.name'] }, ['a26', 'a22', 'a23', 'a24', 'a13', 'a14', 'a11', 'a12', 'a01', 'a02', 'a03', 'a17', 'a18', 'a06', 'a05', 'a07', 'a21', 'a20', 'a19', 'a08', 'a04', 'a25']],
  ['$elemMatch on fields of objects', { selector: { 'doc.tags': { $elemMatch: { k: { $gte: 'b' } } } } }, ['a19', 'a20']],
  ['$elemMatch with $not inside', { selector: { 'doc.tags': { $elemMatch: { $not: { k: 'a' } } } } }, ['a01', 'a02', 'a04', 'a10', 'a19', 'a20', 'a21']],
  ['$all on an array with an array element', { selector: { 'doc.tags': { $all: ['x'] } } }, ['a01', 'a04', 'a10', 'a21']],
  ['$in on numbers and arrays of them', { selector: { 'doc.n': { $in: [1, 'a'] } } }, ['a01', 'a22', 'a10', 'a23']],
  ['$eq on an array', { selector: { 'doc.n': [1, 2] } }, ['a10']],
  ['$gt a number: strings, arrays, objects above', { selector: { 'doc.n': { $gt: 100 } } }, ['a25', 'a20', 'a09', 'a21', 'a22', 'a10', 'a23', 'a24', 'a11']],
  ['$lt a string: numbers, booleans, null below', { selector: { 'doc.n': { $lt: 'a' } } }, ['a07', 'a26', 'a08', 'a19', 'a04', 'a06', 'a01', 'a02', 'a03', 'a17', 'a18', 'a13', 'a14', 'a05', 'a15', 'a25', 'a20', 'a09']],
  ['an escaped dot in a field name', { selector: { 'doc.obj.dot\\.ted': 1 } }, ['a23']],
  ['$or with $exists false', { selector: { $or: [{ 'doc.obj': { $exists: false } }, { 'doc.obj.k': 'v' }] } }, ['a01', 'a08', 'a09', 'a10', 'a11', 'a13', 'a14', 'a15', 'a16', 'a17', 'a18', 'a19', 'a20', 'a21', 'a23', 'a24', 'a25', 'a26']],
  ['$not of $and (De Morgan)', { selector: { $not: { $and: [{ 'doc.n': { $gte: 0 } }, { 'doc.n': { $lte: 5 } }] } } }, ['a07', 'a26', 'a08', 'a19', 'a04', 'a13', 'a14', 'a05', 'a15', 'a25', 'a20', 'a09', 'a21', 'a22', 'a10', 'a23', 'a24', 'a11']],
  ['$not of $or', { selector: { $not: { $or: [{ 'doc.name': 'apple' }, { 'doc.tags': { $size: 1 } }] } } }, ['a03', 'a21', 'a19', 'a04']],
  ['$not of $in on an array field', { selector: { 'doc.tags': { $not: { $in: ['x'] } } } }, ['a02', 'a03', 'a19', 'a20']],
  ['$not of $size', { selector: { 'doc.tags': { $not: { $size: 1 } } } }, ['a01', 'a03', 'a04', 'a19', 'a21']],
  ['$exists false on a field of the elements', { selector: { 'doc.obj.k.0': { $exists: false } } }, ['a06', 'a08', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a16', 'a17', 'a18', 'a19', 'a20', 'a21', 'a24', 'a25', 'a26']],
  ['$type of a path into an array', { selector: { 'doc.obj.k.0': { $type: 'string' } } }, ['a22']],
  ['$or: [] alone: nothing', { selector: { $or: [] } }, []],
  ['$and: [] alone: nothing', { selector: { $and: [] } }, []],
  ['$nor: [] alone: nothing', { selector: { $nor: [] } }, []],
  ['$or: [] beside a condition: the condition', { selector: { 'doc.n': { $gt: 7 }, $or: [] } }, ['a14', 'a05', 'a15', 'a25', 'a20', 'a09', 'a21', 'a22', 'a10', 'a23', 'a24', 'a11']],
  ['$regex over emoji and CJK bytes', { selector: { 'doc.name': { $regex: '^....$' } } }, ['a24']],
  ['$gt an empty string', { selector: { 'doc.name': { $gt: '' } }, limit: 3 }, ['a22', 'a23', 'a24']],
  // _id compares raw (bytes), in _all_docs order.
  ['_id range', { selector: { _id: { $gt: 'a10', $lte: 'a15' } } }, ['a11', 'a12', 'a13', 'a14', 'a15']],
  ['_id $in', { selector: { _id: { $in: ['a03', 'a01', 'A01'] } } }, ['a01', 'a03']],
  ['_id $gt a number, $lt an object (raw term order)', { selector: { _id: { $gt: 1, $lt: {} } } }, []],
  ['every document, by id', { selector: {} }, ['a01', 'a02', 'a03', 'a04', 'a05', 'a06', 'a07', 'a08', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a16', 'a17', 'a18', 'a19', 'a20', 'a21', 'a22', 'a23', 'a24', 'a25', 'a26']],
  ['a range on doc.n (index on doc.n: its order)', { selector: { 'doc.n': { $gte: 0 } } }, ['a06', 'a01', 'a02', 'a03', 'a17', 'a18', 'a13', 'a14', 'a05', 'a15', 'a25', 'a20', 'a09', 'a21', 'a22', 'a10', 'a23', 'a24', 'a11']],
  ['a range on doc.n, desc', { selector: { 'doc.n': { $gte: 0 } }, sort: [{ 'doc.n': 'desc' }] }, ['a11', 'a24', 'a23', 'a10', 'a22', 'a21', 'a09', 'a20', 'a25', 'a15', 'a05', 'a14', 'a13', 'a18', 'a17', 'a03', 'a02', 'a01', 'a06']],
];

/** `MANGO_RECORD=<file>`: write the answers to that file instead of asserting them (how the expectations were taken). */
const RECORD = process.env.MANGO_RECORD;

describe('Mango _find matches and orders as CouchDB 3.4.3 does', () => {
  let emu: Emulator;
  let db: string;
  const user = uniqueUser('mango-sem');
  const post = (path: string, body: unknown) => couch(emu, user, `/${db}/${path}`, { method: 'POST', body });
  const recorded: unknown[] = [];

  beforeAll(async () => {
    emu = await startEmulator({ port: 0 });
    db = await signUp(emu, user);
    const docs = Object.entries(CORPUS).map(([_id, doc]) => ({ _id, doc, feat: { updatedAt: 1 } }));
    expect((await post('_bulk_docs', { docs })).status).toBe(201);
    for (const field of ['doc.name', 'doc.n']) {
      const made = await post('_index', { index: { fields: [field] }, ddoc: `by-${field}`, name: `by-${field}` });
      expect(made.status, made.text).toBe(200);
    }
  });
  afterAll(async () => {
    if (RECORD) appendFileSync(RECORD, `${JSON.stringify(recorded)}\n`);
    await emu?.stop();
  });

  it.each(CASES)('%s', async (what, body, expected) => {
    const reply = await post('_find', { limit: 100, ...body });
    expect(reply.status, reply.text).toBe(200);
    const ids = (reply.json as { docs: { _id: string }[] }).docs.map((d) => d._id);
    if (RECORD) recorded.push([what, ids]);
    else expect(ids).toEqual(expected);
  });

  it('an operator given the wrong kind of argument is 400 bad_arg', async () => {
    const bad: Record<string, unknown>[] = [
      { 'doc.n': { $mod: 2 } },
      { 'doc.n': { $mod: [2] } },
      { 'doc.n': { $mod: [2.5, 1] } },
      { 'doc.tags': { $size: -1 } },
      { 'doc.tags': { $size: 'x' } },
      { 'doc.name': { $exists: 'yes' } },
      { 'doc.name': { $type: 1 } },
      { 'doc.name': { $not: 'apple' } },
      { 'doc.tags': { $elemMatch: 'x' } },
    ];
    for (const selector of bad) {
      const reply = await post('_find', { selector });
      expect({ selector, status: reply.status, error: (reply.json as { error?: string }).error }).toEqual({ selector, status: 400, error: 'bad_arg' });
    }
  });

  it('bookmark pages follow the sort', async () => {
    const query = { selector: { 'doc.name': { $gt: null } }, sort: ['doc.name'], limit: 4 };
    const seen: string[] = [];
    let bookmark: string | undefined;
    for (let page = 0; page < 10; page++) {
      const reply = (await post('_find', { ...query, ...(bookmark ? { bookmark } : {}) })).json as { docs: { _id: string }[]; bookmark: string };
      seen.push(...reply.docs.map((d) => d._id));
      if (reply.docs.length < 4) break;
      bookmark = reply.bookmark;
    }
    const all = (await post('_find', { ...query, limit: 100 })).json as { docs: { _id: string }[] };
    expect(seen).toEqual(all.docs.map((d) => d._id));
  });

  it('fields: only the fields named, nested as they were; none through an array by name', async () => {
    const reply = await post('_find', { selector: { 'doc.n': { $lte: 2 } }, fields: ['_id', 'doc.obj.k', 'doc.name'], sort: ['doc.n'] });
    const docs = (reply.json as { docs: unknown[] }).docs;
    if (RECORD) appendFileSync(RECORD, `${JSON.stringify(docs)}\n`);
    else
      expect(docs).toEqual([
        { _id: 'a07', doc: { name: 'Éclair' } },
        { _id: 'a26', doc: { name: '' } },
        { _id: 'a08', doc: { name: 'zed' } },
        { _id: 'a19', doc: { name: 'résumé' } },
        { _id: 'a04', doc: { obj: { k: 'V' }, name: 'Zed' } },
        { _id: 'a06', doc: { name: 'eclair' } },
        { _id: 'a01', doc: { obj: { k: 'v' }, name: 'apple' } },
        { _id: 'a02', doc: { name: 'Apple' } },
      ]);
  });

  it('a partial index lists only the documents its filter keeps, in its order (last: it adds an index)', async () => {
    const index = { fields: ['doc.tags'], partial_filter_selector: { 'doc.n': { $gte: 2 } } };
    const made = await post('_index', { index, ddoc: 'partial', name: 'partial' });
    expect(made.status, made.text).toBe(200);
    const reply = await post('_find', { selector: { 'doc.tags': { $exists: true } }, use_index: ['partial', 'partial'], limit: 100 });
    expect(reply.status, reply.text).toBe(200);
    const ids = (reply.json as { docs: { _id: string }[] }).docs.map((d) => d._id);
    if (RECORD) appendFileSync(RECORD, `${JSON.stringify({ partial: ids })}\n`);
    else expect(ids).toEqual(['a03', 'a10', 'a02', 'a21', 'a20']);
  });
});

describe('store.find in remote mode answers as CouchDB 3.4.3 does', () => {
  let emu: Emulator;
  let client: FeatClient;
  const values: Record<string, unknown> = {
    apple: { name: 'apple', obj: { k: 1 } },
    Apple: { name: 'Apple', obj: null },
    banana: { name: 'banana', obj: 'flat' },
    Zed: { name: 'Zed', obj: {} },
    eclair: { name: 'éclair' },
    none: { other: 1 },
  };

  beforeAll(async () => {
    emu = await startEmulator({ port: 0 });
    const user = uniqueUser('mango-sem-sdk');
    client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    await client.ready();
    for (const [key, value] of Object.entries(values)) await client.store.set(`s:${key}`, value);
  });
  afterAll(async () => {
    await client?.close();
    await emu?.stop();
  });

  const answers: unknown[] = [];
  afterAll(() => {
    if (RECORD) appendFileSync(RECORD, `${JSON.stringify(answers)}\n`);
  });
  /** The keys `store.find` answers, in order, equal `expected`. */
  const expectKeys = async (query: Parameters<FeatClient['store']['find']>[0], expected: string[]) => {
    const got = (await client.store.find(query, { onWarning: () => undefined })).map((r) => r.key);
    if (RECORD) answers.push([JSON.stringify(query), got]);
    else expect(got, JSON.stringify(query)).toEqual(expected);
  };

  it('a range on strings and a sort by ICU collation', async () => {
    await expectKeys({ prefix: 's:', selector: { name: { $gt: 'apple' } } }, ['s:Apple', 's:Zed', 's:banana', 's:eclair']);
    await expectKeys({ prefix: 's:', selector: { name: { $gte: 'a', $lt: 'b' } } }, ['s:Apple', 's:apple']);
    await expectKeys({ prefix: 's:', sort: ['name'] }, ['s:apple', 's:Apple', 's:banana', 's:eclair', 's:Zed']);
    await expectKeys({ prefix: 's:', sort: [{ name: 'desc' }] }, ['s:Zed', 's:eclair', 's:banana', 's:Apple', 's:apple']);
  });

  it('$ne and $not never match a missing field; nothing matches below null or a scalar', async () => {
    await expectKeys({ prefix: 's:', selector: { name: { $ne: 'apple' } } }, ['s:Apple', 's:Zed', 's:banana', 's:eclair']);
    await expectKeys({ prefix: 's:', selector: { name: { $not: { $eq: 'apple' } } } }, ['s:Apple', 's:Zed', 's:banana', 's:eclair']);
    await expectKeys({ prefix: 's:', selector: { 'obj.k': { $exists: false } } }, ['s:Zed', 's:eclair', 's:none']);
  });
});
