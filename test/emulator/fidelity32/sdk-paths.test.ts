/**
 * Paths the SDK and its replicator use, measured on CouchDB 3.4.3 behind nginx: `_changes` with `filter=_doc_ids`
 * (its `pending`: fabric_rpc reads only the named documents) and `open_revs` with a list of revisions (the order of
 * the answers: fabric_doc_open_revs sorts them).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { h32, j, ownDatabase } from '../fidelity31/setup.js';

const { send } = ownDatabase('f32sp');
const JSON_TYPE = { 'Content-Type': 'application/json' };
const [a, b, c, d] = [h32('a'), h32('b'), h32('c'), h32('d')];

beforeAll(async () => {
  // c1: leaves 2-b, 2-c (and a deletion 3-d on the c branch); then p1, then q1.
  const r = await send('POST', '/{db}/_bulk_docs', j({ new_edits: false, docs: [
    { _id: 'c1', _rev: `2-${b}`, _revisions: { start: 2, ids: [b, a] }, v: 'b' },
    { _id: 'c1', _rev: `2-${c}`, _revisions: { start: 2, ids: [c, a] }, v: 'c' },
    { _id: 'c1', _rev: `3-${d}`, _revisions: { start: 3, ids: [d, c, a] }, _deleted: true },
  ] }), JSON_TYPE);
  expect(r.status).toBe(201);
  for (const id of ['p1', 'q1']) expect((await send('PUT', `/{db}/${id}`, j({ v: id }), JSON_TYPE)).status).toBe(201);
});

describe('_changes?filter=_doc_ids: pending is every change since `since` less the rows sent', () => {
  const pending = (r: { body: unknown }) => (r.body as { pending?: unknown }).pending;
  const ids = (r: { body: unknown }) => (r.body as { results: { id: string }[] }).results.map((x) => x.id);
  it('naming the newest document: the two older changes are pending (GET and POST)', async () => {
    const get = await send('GET', `/{db}/_changes?filter=_doc_ids&doc_ids=${encodeURIComponent(j(['q1']))}`);
    expect({ ids: ids(get), pending: pending(get) }).toEqual({ ids: ['q1'], pending: 2 });
    const post = await send('POST', '/{db}/_changes?filter=_doc_ids', j({ doc_ids: ['q1'] }), JSON_TYPE);
    expect({ ids: ids(post), pending: pending(post) }).toEqual({ ids: ['q1'], pending: 2 });
  });
  it('naming the oldest and the newest: one pending', async () => {
    const r = await send('POST', '/{db}/_changes?filter=_doc_ids', j({ doc_ids: ['q1', 'c1'] }), JSON_TYPE);
    expect({ ids: ids(r), pending: pending(r) }).toEqual({ ids: ['c1', 'q1'], pending: 1 });
  });
  it('naming nothing that exists: every change pending', async () => {
    const r = await send('POST', '/{db}/_changes?filter=_doc_ids', j({ doc_ids: ['nope'] }), JSON_TYPE);
    expect({ ids: ids(r), pending: pending(r) }).toEqual({ ids: [], pending: 3 });
  });
  it('with limit=1 naming two: one row, the others pending', async () => {
    const r = await send('POST', '/{db}/_changes?filter=_doc_ids&limit=1', j({ doc_ids: ['q1', 'c1'] }), JSON_TYPE);
    expect({ ids: ids(r), pending: pending(r) }).toEqual({ ids: ['c1'], pending: 2 });
  });
});

describe('GET ?open_revs=[…] (JSON): the answers', () => {
  it('sorted, not in the order of the list: the documents found ascending, then the missing revisions ascending', async () => {
    const list = [`3-${d}`, `9-${a}`, `2-${c}`, `2-${b}`, `1-${a}`];
    const r = await send('GET', `/{db}/c1?open_revs=${encodeURIComponent(j(list))}`, undefined, { Accept: 'application/json' });
    const got = (r.body as ({ ok: { _rev: string } } | { missing: string })[]).map((x) => ('ok' in x ? x.ok._rev : `missing ${x.missing}`));
    expect(got).toEqual([`2-${b}`, `2-${c}`, `3-${d}`, `missing 1-${a}`, `missing 9-${a}`]);
  });
  it('a revision named twice is answered once', async () => {
    const list = [`2-${c}`, `2-${b}`, `2-${c}`, `8-${a}`, `8-${a}`];
    const r = await send('GET', `/{db}/c1?open_revs=${encodeURIComponent(j(list))}`, undefined, { Accept: 'application/json' });
    const got = (r.body as ({ ok: { _rev: string } } | { missing: string })[]).map((x) => ('ok' in x ? x.ok._rev : `missing ${x.missing}`));
    expect(got).toEqual([`2-${b}`, `2-${c}`, `missing 8-${a}`]);
  });
});
