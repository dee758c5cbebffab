/**
 * Mango indexes as CouchDB 3.4.3 (behind the deployment's nginx) handles them: a partial index is never chosen unless
 * `use_index` names it; `ddoc` may be given with its `_design/` prefix (POST _index and
 * DELETE _index/_design/<ddoc>/json/<name>); bad index definitions and `allow_fallback: false` are 400s; an `$eq` and a
 * range on one field with a sort is CouchDB's own 500. Every assertion states the REAL server's answer; the file runs
 * on both backends (`FEAT_BACKEND=real`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import type { RawAnswer } from '../support/raw-http.js';
import { rawCapped } from './raw-deadline.js';

const emu = useEmulator({ profile: 'couchdb' });

let userHeaders: Record<string, string>;
let db: string;
const send = (method: string, path: string, body?: string) => rawCapped(emu.couchUrl, method, path, body, userHeaders, 8000);
const at = (path: string) => `/${db}${path}`;
const json = (v: unknown) => JSON.stringify(v);
const outcome = (a: RawAnswer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const ids = (a: RawAnswer) => ((a.body as { docs?: { _id: string }[] }).docs ?? []).map((d) => d._id).sort();

beforeAll(async () => {
  const user = uniqueUser('fid5mango');
  await emu.createUser(user);
  userHeaders = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  // The per-user database appears (and becomes the user's) a moment after sign-up.
  for (let i = 0; i < 100 && (await send('GET', at(''))).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
}, 60_000);

describe('partial indexes', () => {
  it('a partial index is not chosen unless use_index names it: _find answers every matching document', async () => {
    const docs = [
      { _id: 'pa-1', doc: { pv: 1, kind: 'a' } },
      { _id: 'pa-2', doc: { pv: 1, kind: 'b' } },
      { _id: 'pa-3', doc: { pv: 1 } },
      { _id: 'pa-4', doc: { pv: 2, kind: 'a' } },
    ];
    expect((await send('POST', at('/_bulk_docs'), json({ docs }))).status).toBe(201);
    const made = await send('POST', at('/_index'), json({ index: { fields: ['doc.pv'], partial_filter_selector: { 'doc.kind': 'a' } }, ddoc: 'partial-a', name: 'pv-a' }));
    expect(made.body).toMatchObject({ result: 'created', id: '_design/partial-a', name: 'pv-a' });

    const found = await send('POST', at('/_find'), json({ selector: { 'doc.pv': 1 }, fields: ['_id'] }));
    expect(found.status).toBe(200);
    expect(ids(found)).toEqual(['pa-1', 'pa-2', 'pa-3']);
    expect((found.body as { warning?: string }).warning).toBe('No matching index found, create an index to optimize query time.');

    const explained = await send('POST', at('/_explain'), json({ selector: { 'doc.pv': 1 } }));
    expect((explained.body as { index: { name: string } }).index.name).toBe('_all_docs');

    // Named, it is used, and lists only the documents its filter admits.
    expect(ids(await send('POST', at('/_find'), json({ selector: { 'doc.pv': 1 }, use_index: ['partial-a', 'pv-a'], fields: ['_id'] })))).toEqual(['pa-1']);
  });

  it('a sort only a partial index could serve → 400 no_usable_index (not the documents that pass its filter)', async () => {
    const docs = [
      { _id: 'ps-1', doc: { ps: 1, kind: 'a' } },
      { _id: 'ps-2', doc: { ps: 2, kind: 'b' } },
    ];
    expect((await send('POST', at('/_bulk_docs'), json({ docs }))).status).toBe(201);
    await send('POST', at('/_index'), json({ index: { fields: ['doc.ps'], partial_filter_selector: { 'doc.kind': 'a' } }, ddoc: 'partial-s', name: 'ps-a' }));
    const sorted = await send('POST', at('/_find'), json({ selector: { 'doc.ps': { $gt: 0 } }, sort: ['doc.ps'], fields: ['_id'] }));
    expect(outcome(sorted)).toEqual({ status: 400, error: 'no_usable_index', reason: 'No index exists for this sort, try indexing by the sort fields.' });
  });
});

describe('_index with a _design/ prefix', () => {
  it('POST _index {ddoc: "_design/x"} creates the index in _design/x', async () => {
    const r = await send('POST', at('/_index'), json({ index: { fields: ['doc.dz'] }, ddoc: '_design/prefixed', name: 'dz' }));
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: { result: 'created', id: '_design/prefixed', name: 'dz' } });
    const listed = (await send('GET', at('/_index'))).body as { indexes: { ddoc: string | null; name: string }[] };
    expect(listed.indexes.filter((i) => i.name === 'dz').map((i) => i.ddoc)).toEqual(['_design/prefixed']);
    expect((await send('GET', at('/_design/prefixed'))).status).toBe(200);
  });

  it('DELETE /{db}/_index/_design/<ddoc>/json/<name> deletes the index (200 {ok: true})', async () => {
    await send('POST', at('/_index'), json({ index: { fields: ['doc.del'] }, ddoc: 'todelete', name: 'del' }));
    const r = await send('DELETE', at('/_index/_design/todelete/json/del'));
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: { ok: true } });
    const listed = (await send('GET', at('/_index'))).body as { indexes: { name: string }[] };
    expect(listed.indexes.map((i) => i.name)).not.toContain('del');
  });

  it('DELETE /{db}/_index/<ddoc>/<name> without a type → 404 missing (not 405)', async () => {
    await send('POST', at('/_index'), json({ index: { fields: ['doc.nt'] }, ddoc: 'notype', name: 'nt' }));
    const r = await send('DELETE', at('/_index/notype/nt'));
    expect(outcome(r)).toEqual({ status: 404, error: 'not_found', reason: 'missing' });
    const listed = (await send('GET', at('/_index'))).body as { indexes: { name: string }[] };
    expect(listed.indexes.map((i) => i.name)).toContain('nt');
  });
});

describe('index definitions and options CouchDB refuses', () => {
  it('type other than json/text → 400 invalid_index "Invalid type for index: <type>", nothing created', async () => {
    const r = await send('POST', at('/_index'), json({ index: { fields: ['doc.bt'] }, type: 'nope', name: 'bt' }));
    expect(outcome(r)).toEqual({ status: 400, error: 'invalid_index', reason: 'Invalid type for index: nope' });
    const listed = (await send('GET', at('/_index'))).body as { indexes: { name: string }[] };
    expect(listed.indexes.map((i) => i.name)).not.toContain('bt');
  });

  it('fields in mixed directions → 400 unsupported_mixed_sort (not a 500)', async () => {
    const r = await send('POST', at('/_index'), json({ index: { fields: [{ 'doc.m1': 'desc' }, { 'doc.m2': 'asc' }] }, name: 'mixed' }));
    expect(outcome(r)).toEqual({ status: 400, error: 'unsupported_mixed_sort', reason: 'Sorts currently only support a single direction for all fields.' });
  });

  it('allow_fallback: false with no usable index → 400 invalid_index (with and without use_index)', async () => {
    await send('POST', at('/_index'), json({ index: { fields: ['doc.fb'] }, ddoc: 'fallback', name: 'fb' }));
    const unnamed = await send('POST', at('/_find'), json({ selector: { 'doc.other': 1 }, allow_fallback: false }));
    expect(outcome(unnamed)).toEqual({ status: 400, error: 'invalid_index', reason: 'You must specify an index with the `use_index` parameter.' });
    const named = await send('POST', at('/_find'), json({ selector: { 'doc.other': 1 }, use_index: 'fallback', allow_fallback: false }));
    expect(outcome(named)).toEqual({ status: 400, error: 'invalid_index', reason: '_design/fallback specified by `use_index` could not be found or it is not suitable.' });
  });

  it('GET _index honours limit and skip (total_rows stays the total)', async () => {
    for (const name of ['l1', 'l2']) await send('POST', at('/_index'), json({ index: { fields: [`doc.${name}`] }, ddoc: `list-${name}`, name }));
    const all = (await send('GET', at('/_index'))).body as { total_rows: number; indexes: { name: string }[] };
    const page = (await send('GET', at('/_index?limit=1&skip=1'))).body as { total_rows: number; indexes: { name: string }[] };
    expect(page.total_rows).toBe(all.total_rows);
    expect(page.indexes.map((i) => i.name)).toEqual([all.indexes[1]!.name]);
  });
});

describe('an $eq and a range on one field', () => {
  it('CouchDB 3.4 fails (500 function_clause) on a $gt after an equality at its own value, on an index of the field', async () => {
    const docs = [
      { _id: 'er-a', doc: { er: 'a', er2: 1 } },
      { _id: 'er-b', doc: { er: 'b', er2: 1 } },
    ];
    expect((await send('POST', at('/_bulk_docs'), json({ docs }))).status).toBe(201);
    await send('POST', at('/_index'), json({ index: { fields: ['doc.er'] }, ddoc: 'eq-range', name: 'er' }));
    await send('POST', at('/_index'), json({ index: { fields: ['doc.er2', 'doc.er'] }, ddoc: 'eq-range2', name: 'er2' }));
    const find = (selector: unknown, more: object = {}) => send('POST', at('/_find'), json({ selector, fields: ['_id'], ...more }));
    const FAILS = { status: 500, error: 'unknown_error', reason: 'function_clause' };
    for (const selector of [
      { 'doc.er': { $eq: 'a', $gt: 'a' } },
      { 'doc.er': { $eq: null, $gt: null } },
      { 'doc.er': { $gte: 'a', $lte: 'a', $gt: 'a' } },
      { 'doc.er': { $eq: 'a', $not: { $lte: 'a' } } },
      { $and: [{ 'doc.er': 'a' }, { 'doc.er': { $gt: 'a' } }] },
    ]) {
      expect(outcome(await find(selector, { sort: ['doc.er'] })), JSON.stringify(selector)).toEqual(FAILS);
    }
    expect(outcome(await find({ 'doc.er': { $eq: 'a', $gt: 'a' } }))).toEqual(FAILS);
    expect(outcome(await send('POST', at('/_explain'), json({ selector: { 'doc.er': { $eq: 'a', $gt: 'a' } } })))).toEqual(FAILS);
    expect(outcome(await find({ 'doc.er2': 1, 'doc.er': { $eq: 'a', $gt: 'a' } }, { use_index: 'eq-range2' }))).toEqual(FAILS);
    // The same conditions in another order, a range CouchDB reads before the equality's end, or another value: answered.
    for (const [selector, found] of [
      [{ 'doc.er': { $gt: 'a', $eq: 'a' } }, []],
      [{ 'doc.er': { $eq: 'b', $gt: 'a' } }, ['er-b']],
      [{ 'doc.er': { $eq: 'a', $gte: 'a' } }, ['er-a']],
      [{ 'doc.er': { $eq: 'a', $lt: 'a' } }, []],
      [{ $and: [{ 'doc.er': { $gt: 'a' } }], 'doc.er': 'a' }, []],
    ] as const) {
      const r = await find(selector, { sort: ['doc.er'] });
      expect({ status: r.status, ids: ids(r) }, JSON.stringify(selector)).toEqual({ status: 200, ids: found });
    }
    expect(ids(await find({ 'doc.er2': { $gt: 0 }, 'doc.er': { $eq: 'a', $gt: 'a' } }, { use_index: 'eq-range2' }))).toEqual([]);
  });
});
