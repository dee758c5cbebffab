/**
 * The emulator's `_explain`, `_index` and `_find` details as CouchDB 3.4.3 answers them, in both profiles. Every
 * expected answer below was taken from the real server with the same documents, indexes and requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@feat/emulator';
import { uniqueUser } from '../support/backend.js';
import { couch, signUp } from './helpers.js';

const MAX = '<MAX>';
const byPrio = { ddoc: '_design/feat-x', name: 'feat-x', type: 'json', partitioned: false, def: { fields: [{ 'doc.prio': 'asc' }] } };
const byDone = { ddoc: '_design/by-done', name: 'by-done', type: 'json', partitioned: false, def: { fields: [{ 'doc.done': 'asc' }] } };
const allDocs = { ddoc: null, name: '_all_docs', type: 'special', def: { fields: [{ _id: 'asc' }] } };
const opts = (o: Record<string, unknown> = {}) => ({
  use_index: [], bookmark: 'nil', limit: 25, skip: 0, sort: {}, fields: [], partition: '', r: 1, conflicts: false, stale: false, update: true,
  stable: false, execution_stats: false, allow_fallback: true, ...o,
});
const mrargs = (start: unknown, end: unknown, o: Record<string, unknown> = {}) => ({
  include_docs: true, view_type: 'map', reduce: false, partition: null, start_key: start, end_key: end, direction: 'fwd', stable: false, update: true,
  conflicts: 'undefined', ...o,
});
const analysis = (usable: boolean, reason: string, ranking: number, covering: boolean | null) => ({ usable, reasons: [{ name: reason }], ranking, covering });
const hints = (indexable: string[], unindexable: string[] = []) => [{ type: 'json', indexable_fields: indexable, unindexable_fields: unindexable }];

describe.each(['emulator', 'couchdb'] as const)('emulator _explain and _index as CouchDB 3.4 (profile %s)', (profile) => {
  let emu: Emulator;
  let db: string;
  const user = uniqueUser('explain');
  const request = (method: string, path: string, body?: unknown) => couch(emu, user, `/${db}/${path}`, { method, ...(body === undefined ? {} : { body }) });
  const explain = async (body: unknown) => {
    const reply = await request('POST', '_explain', body);
    expect(reply.status).toBe(200);
    const { dbname, ...rest } = reply.json as Record<string, unknown>;
    expect(dbname).toBe(db);
    return rest;
  };

  beforeAll(async () => {
    emu = await startEmulator({ port: 0, profile });
    db = await signUp(emu, user);
    for (const i of [1, 2, 3]) expect((await request('PUT', `d${i}`, { doc: { prio: i, done: false } })).status).toBe(201);
    expect((await request('POST', '_index', { index: { fields: ['doc.prio'] }, ddoc: 'feat-x', name: 'feat-x', type: 'json' })).json).toEqual({
      result: 'created', id: '_design/feat-x', name: 'feat-x',
    });
    expect((await request('POST', '_index', { index: { fields: ['doc.done'] }, ddoc: 'by-done', name: 'by-done', type: 'json' })).status).toBe(200);
  });
  afterAll(async () => emu?.stop());

  it('a sorted query on an index: the index, the other candidates and why not, the view range', async () => {
    expect(await explain({ selector: { 'doc.prio': { $gt: 1 } }, sort: [{ 'doc.prio': 'asc' }], limit: 2 })).toEqual({
      index: byPrio, partitioned: false, selector: { 'doc.prio': { $gt: 1 } }, opts: opts({ limit: 2, sort: { 'doc.prio': 'asc' } }), limit: 2, skip: 0, fields: [],
      index_candidates: [{ index: byDone, analysis: analysis(false, 'field_mismatch', 1, false) }, { index: allDocs, analysis: analysis(false, 'field_mismatch', 1, null) }],
      selector_hints: hints(['doc.prio']), mrargs: mrargs([1], [MAX]), covering: false,
    });
    expect(await explain({ selector: { 'doc.prio': { $gt: 0 } }, sort: [{ 'doc.prio': 'desc' }], skip: 1 })).toMatchObject({
      index: byPrio, opts: opts({ skip: 1, sort: { 'doc.prio': 'desc' } }), skip: 1, mrargs: mrargs([MAX], [0], { direction: 'rev' }),
    });
  });

  it('no usable json index: _all_docs, the selector normalized; a sort no index serves: 200 with index null', async () => {
    expect(await explain({ selector: { x: 1 } })).toEqual({
      index: allDocs, partitioned: false, selector: { x: { $eq: 1 } }, opts: opts(), limit: 25, skip: 0, fields: [],
      index_candidates: [{ index: byPrio, analysis: analysis(false, 'field_mismatch', 1, false) }, { index: byDone, analysis: analysis(false, 'field_mismatch', 1, false) }],
      selector_hints: hints(['x']), mrargs: mrargs(null, MAX), covering: false,
    });
    expect(await explain({ selector: { x: 1 }, sort: ['x'] })).toEqual({
      index: null, partitioned: false, selector: { x: { $eq: 1 } }, opts: opts({ sort: { x: 'asc' } }), limit: 25, skip: 0, fields: [],
      index_candidates: [
        { index: byPrio, analysis: analysis(false, 'field_mismatch', 1, false) },
        { index: byDone, analysis: analysis(false, 'field_mismatch', 1, false) },
        { index: allDocs, analysis: analysis(false, 'field_mismatch', 1, null) },
      ],
      selector_hints: hints(['x']),
    });
    expect((await request('POST', '_find', { selector: { x: 1 }, sort: ['x'] })).status).toBe(400);
  });

  it('two usable indexes: the equality wins; covering with fields; nested fields and _id conditions as CouchDB plans them', async () => {
    expect(await explain({ selector: { 'doc.prio': { $gt: 0 }, 'doc.done': false }, fields: ['_id', 'doc.prio'] })).toEqual({
      index: byDone, partitioned: false, selector: { $and: [{ 'doc.prio': { $gt: 0 } }, { 'doc.done': { $eq: false } }] },
      opts: opts({ fields: ['_id', 'doc.prio'] }), limit: 25, skip: 0, fields: ['_id', 'doc.prio'],
      index_candidates: [{ index: byPrio, analysis: analysis(true, 'less_overlap', 1, true) }, { index: allDocs, analysis: analysis(true, 'unfavored_type', 2, null) }],
      selector_hints: hints(['doc.done', 'doc.prio']), mrargs: mrargs([false], [false, MAX]), covering: false,
    });
    expect(await explain({ selector: { doc: { prio: 2 } }, fields: ['_id', 'doc.prio'] })).toEqual({
      index: byPrio, partitioned: false, selector: { 'doc.prio': { $eq: 2 } }, opts: opts({ fields: ['_id', 'doc.prio'] }), limit: 25, skip: 0, fields: ['_id', 'doc.prio'],
      index_candidates: [{ index: byDone, analysis: analysis(false, 'field_mismatch', 2, false) }, { index: allDocs, analysis: analysis(true, 'unfavored_type', 1, null) }],
      selector_hints: hints(['doc.prio']), mrargs: mrargs([2], [2, MAX], { include_docs: false }), covering: true,
    });
    // An `_id` condition no index serves ($regex) leaves the json index in charge, on _find too (no full-scan warning).
    const withId = { selector: { _id: { $regex: '^d' }, 'doc.prio': { $gte: 2 } } };
    expect(await explain(withId)).toMatchObject({
      index: byPrio, selector: { $and: [{ _id: { $regex: '^d' } }, { 'doc.prio': { $gte: 2 } }] },
      index_candidates: [{ index: byDone, analysis: analysis(false, 'field_mismatch', 2, false) }, { index: allDocs, analysis: analysis(true, 'unfavored_type', 1, null) }],
      selector_hints: hints(['doc.prio'], ['_id']), mrargs: mrargs([2], [MAX]),
    });
    const found = (await request('POST', '_find', withId)).json as { docs: { _id: string }[]; warning?: string };
    expect(found.docs.map((d) => d._id)).toEqual(['d2', 'd3']);
    expect(found.warning).toBeUndefined();
  });

  it('_find: "nil" bookmark on an empty first page, the given one at the end; execution_stats on request', async () => {
    const empty = (await request('POST', '_find', { selector: { x: 1 }, execution_stats: true })).json as Record<string, unknown>;
    expect(empty).toMatchObject({ docs: [], bookmark: 'nil', warning: 'No matching index found, create an index to optimize query time.' });
    expect(Object.keys(empty.execution_stats as object)).toEqual(['total_keys_examined', 'total_docs_examined', 'total_quorum_docs_examined', 'results_returned', 'execution_time_ms']);
    const page = (await request('POST', '_find', { selector: { 'doc.prio': { $gt: 0 } }, limit: 3 })).json as { docs: unknown[]; bookmark: string };
    expect(page.docs).toHaveLength(3);
    const end = (await request('POST', '_find', { selector: { 'doc.prio': { $gt: 0 } }, limit: 3, bookmark: page.bookmark })).json;
    expect(end).toEqual({ docs: [], bookmark: page.bookmark });
    const stats = (await request('POST', '_find', { selector: { 'doc.prio': { $gt: 0 } }, limit: 1, execution_stats: true })).json as { execution_stats: Record<string, number> };
    expect(stats.execution_stats).toMatchObject({ total_quorum_docs_examined: 0, results_returned: 1 });
  });

  it('_index errors and methods as CouchDB answers them', async () => {
    expect((await request('POST', '_index', {})).json).toEqual({ error: 'missing_required_key', reason: 'Missing required key: index' });
    expect((await request('POST', '_index', { index: {} })).json).toEqual({ error: 'missing_required_key', reason: 'Missing required key: fields' });
    expect((await request('POST', '_index', { index: { fields: ['doc.prio'] }, ddoc: 'feat-x', name: 'feat-x', type: 'json' })).json).toEqual({
      result: 'exists', id: '_design/feat-x', name: 'feat-x',
    });
    const missing = await request('DELETE', '_index/_design/nope/json/nope');
    expect([missing.status, missing.json]).toEqual([404, { error: 'not_found', reason: 'missing' }]);
    expect((await request('PUT', '_index', {})).json).toEqual({ error: 'method_not_allowed', reason: 'Only GET,POST allowed' });
    expect((await request('GET', '_index/feat-x/json/feat-x')).json).toEqual({ error: 'method_not_allowed', reason: 'Only DELETE allowed' });
    const listed = (await request('GET', '_index')).json as { total_rows: number; indexes: unknown[] };
    expect(listed).toEqual({ total_rows: 3, indexes: [allDocs, byDone, byPrio] });
  });

  describe('more plans, as CouchDB 3.4.3 answered them (three indexes: p, dp, n)', () => {
    let db2: string;
    const user2 = uniqueUser('explain2');
    const call2 = (method: string, path: string, body?: unknown) => couch(emu, user2, `/${db2}/${path}`, { method, ...(body === undefined ? {} : { body }) });

    beforeAll(async () => {
      db2 = await signUp(emu, user2);
      for (const i of [1, 2, 3, 4]) await call2('PUT', `d${i}`, { doc: { prio: i, done: i % 2 === 0, tags: ['a'], name: `n${i}` } });
      await call2('POST', '_index', { index: { fields: ['doc.prio'] }, ddoc: 'p', name: 'p', type: 'json' });
      await call2('POST', '_index', { index: { fields: ['doc.done', 'doc.prio'] }, ddoc: 'dp', name: 'dp', type: 'json' });
      await call2('POST', '_index', { index: { fields: ['doc.name'] }, ddoc: 'n', name: 'n', type: 'json' });
    });

    type Candidate = [name: string, usable: boolean, reason: string, ranking: number, covering: boolean | null];
    // [request, index used, normalized selector, candidates, mrargs start_key, end_key]
    const cases: [Record<string, unknown>, string, unknown, Candidate[], unknown, unknown][] = [
      [{ selector: { 'doc.prio': { $in: [1, 2] } } }, 'p', { 'doc.prio': { $in: [1, 2] } }, [['n', false, 'field_mismatch', 2, false], ['dp', false, 'field_mismatch', 2, false], ['_all_docs', true, 'unfavored_type', 1, null]], [], [MAX]],
      [{ selector: { $or: [{ 'doc.prio': 1 }, { 'doc.done': true }] } }, '_all_docs', { $or: [{ 'doc.prio': { $eq: 1 } }, { 'doc.done': { $eq: true } }] }, [['p', false, 'field_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false]], null, MAX],
      [{ selector: { 'doc.done': true, 'doc.prio': { $gt: 1 } } }, 'dp', { $and: [{ 'doc.done': { $eq: true } }, { 'doc.prio': { $gt: 1 } }] }, [['p', true, 'less_overlap', 1, false], ['n', false, 'field_mismatch', 3, false], ['_all_docs', true, 'unfavored_type', 2, null]], [true, 1], [true, MAX]],
      [{ selector: { 'doc.done': true, 'doc.prio': { $gt: 1 } }, sort: ['doc.done', 'doc.prio'] }, 'dp', { $and: [{ 'doc.done': { $eq: true } }, { 'doc.prio': { $gt: 1 } }] }, [['p', false, 'sort_order_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['_all_docs', false, 'field_mismatch', 1, null]], [true, 1], [true, MAX]],
      [{ selector: { 'doc.prio': { $exists: true } }, sort: ['doc.prio'] }, 'p', { 'doc.prio': { $exists: true } }, [['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false], ['_all_docs', false, 'field_mismatch', 1, null]], [], [MAX]],
      [{ selector: { 'doc.name': { $beginsWith: 'n' } } }, 'n', { 'doc.name': { $beginsWith: 'n' } }, [['p', false, 'field_mismatch', 2, false], ['dp', false, 'field_mismatch', 2, false], ['_all_docs', true, 'unfavored_type', 1, null]], ['n'], ['n\uffff', MAX]],
      [{ selector: { 'doc.prio': { $lte: 3, $gte: 2 } }, fields: ['doc.prio'] }, 'p', { $and: [{ 'doc.prio': { $lte: 3 } }, { 'doc.prio': { $gte: 2 } }] }, [['n', false, 'field_mismatch', 2, false], ['dp', false, 'field_mismatch', 2, true], ['_all_docs', true, 'unfavored_type', 1, null]], [2], [3, MAX]],
      [{ selector: { 'doc.tags': { $elemMatch: { $eq: 'a' } } } }, '_all_docs', { 'doc.tags': { $elemMatch: { '': { $eq: 'a' } } } }, [['p', false, 'field_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false]], null, MAX],
      [{ selector: { 'doc.prio': 2 }, use_index: 'p' }, 'p', { 'doc.prio': { $eq: 2 } }, [['n', false, 'field_mismatch', 2, false], ['dp', false, 'field_mismatch', 2, false], ['_all_docs', true, 'excluded_by_user', 1, null]], [2], [2, MAX]],
      [{ selector: { _id: 'd1' } }, '_all_docs', { _id: { $eq: 'd1' } }, [['p', false, 'field_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false]], 'd1', 'd1'],
      [{ selector: { _id: { $gt: 'd1' } }, sort: ['_id'] }, '_all_docs', { _id: { $gt: 'd1' } }, [['p', false, 'field_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false]], 'd1', MAX],
      [{ selector: {} }, '_all_docs', {}, [['p', false, 'field_mismatch', 1, false], ['n', false, 'field_mismatch', 1, false], ['dp', false, 'field_mismatch', 1, false]], null, MAX],
    ];

    it.each(cases)('%j', async (body, index, selector, candidates, start, end) => {
      const reply = await call2('POST', '_explain', body);
      expect(reply.status).toBe(200);
      const answer = reply.json as { index: { name: string }; selector: unknown; index_candidates: { index: { name: string }; analysis: Record<string, unknown> }[]; mrargs: Record<string, unknown> };
      expect(answer.index.name).toBe(index);
      expect(answer.selector).toEqual(selector);
      const seen = answer.index_candidates.map((c) => [c.index.name, c.analysis.usable, (c.analysis.reasons as { name: string }[])[0]!.name, c.analysis.ranking, c.analysis.covering]);
      expect(seen).toEqual(candidates);
      expect([answer.mrargs.start_key, answer.mrargs.end_key]).toEqual([start, end]);
    });
  });
});
