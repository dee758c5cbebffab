/**
 * The emulator's `_find`, `_index` and `_explain` answer as CouchDB 3.4 does (COUCHDB-FACTS.md, "Mango"), in both
 * profiles: documents in the SDK's shape, plain HTTP through the proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@feat/emulator';
import { uniqueUser } from '../support/backend.js';
import { couch, signUp } from '../emulator/helpers.js';

describe.each(['emulator', 'couchdb'] as const)('emulator Mango (profile %s)', (profile) => {
  let emu: Emulator;
  let db: string;
  const user = uniqueUser('mango');
  const post = (path: string, body: unknown) => couch(emu, user, `/${db}/${path}`, { method: 'POST', body });

  beforeAll(async () => {
    emu = await startEmulator({ port: 0, profile });
    db = await signUp(emu, user);
    const docs = Array.from({ length: 60 }, (_, i) => ({ _id: `k${String(i).padStart(2, '0')}`, doc: { n: i, even: i % 2 === 0 }, feat: { updatedAt: 1 } }));
    expect((await post('_bulk_docs', { docs })).status).toBe(201);
  });
  afterAll(async () => emu?.stop());

  it('no limit → 25 documents, a bookmark on every answer, the next page through it; the no-index warning', async () => {
    const first = (await post('_find', { selector: { 'doc.even': true } })).json as { docs: { _id: string }[]; bookmark: string; warning: string };
    expect(first.docs).toHaveLength(25);
    expect(first.bookmark).toEqual(expect.any(String));
    expect(first.warning).toBe('No matching index found, create an index to optimize query time.');
    const second = (await post('_find', { selector: { 'doc.even': true }, bookmark: first.bookmark })).json as typeof first;
    expect(second.docs).toHaveLength(5);
    expect(new Set([...first.docs, ...second.docs].map((d) => d._id)).size).toBe(30);
    const end = (await post('_find', { selector: { 'doc.even': true }, bookmark: second.bookmark })).json as typeof first;
    expect(end.docs).toEqual([]);
    expect(end.bookmark).toEqual(expect.any(String));
  });

  it('sort: 400 no_usable_index without an index (even _id with a selector on another field); with one, sorted', async () => {
    const noIndex = await post('_find', { selector: { 'doc.n': { $gt: 5 } }, sort: ['doc.n'] });
    expect(noIndex.status).toBe(400);
    expect(noIndex.json).toEqual({ error: 'no_usable_index', reason: 'No index exists for this sort, try indexing by the sort fields.' });
    expect((await post('_find', { selector: { 'doc.n': { $gt: 5 } }, sort: ['_id'] })).status).toBe(400);
    const created = await post('_index', { index: { fields: ['doc.n'] }, ddoc: 'by-n', name: 'by-n' });
    expect(created.json).toEqual({ result: 'created', id: '_design/by-n', name: 'by-n' });
    expect((await post('_index', { index: { fields: ['doc.n'] }, ddoc: 'by-n', name: 'by-n' })).json).toMatchObject({ result: 'exists' });
    const sorted = await post('_find', { selector: { 'doc.n': { $gt: 50 } }, sort: [{ 'doc.n': 'desc' }], limit: 3 });
    expect(sorted.status).toBe(200);
    const answer = sorted.json as { docs: { doc: { n: number } }[]; warning?: string };
    expect(answer.docs.map((d) => d.doc.n)).toEqual([59, 58, 57]);
    expect(answer.warning).toBeUndefined();
    const missing = await post('_find', { selector: { 'doc.n': 1 }, use_index: 'nope' });
    expect(missing.status).toBe(200);
    expect((missing.json as { warning: string }).warning).toMatch(/_design\/nope was not used because it does not contain a valid index for this query\./);
    expect((await couch(emu, user, `/${db}/_index/by-n/json/by-n`, { method: 'DELETE' })).json).toEqual({ ok: true });
    expect((await post('_find', { selector: { 'doc.n': { $gt: 5 } }, sort: ['doc.n'] })).status).toBe(400);
  });

  it('bad queries are 400 with CouchDB’s errors; $beginsWith works; design documents are never listed', async () => {
    const cases: [unknown, string][] = [
      [{ selector: { 'doc.n': { $nonsense: 1 } } }, 'invalid_operator'],
      [{ selector: { $nonsense: 1 } }, 'invalid_operator'],
      [{}, 'missing_required_key'],
      [{ selector: {}, limit: -1 }, 'invalid_non_neg_integer'],
      [{ selector: { 'doc.n': { $regex: '(' } } }, 'bad_arg'],
    ];
    for (const [body, error] of cases) {
      const reply = await post('_find', body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect((reply.json as { error: string }).error).toBe(error);
    }
    const begins = (await post('_find', { selector: { _id: { $beginsWith: 'k5' } }, limit: 100 })).json as { docs: { _id: string }[] };
    expect(begins.docs.map((d) => d._id)).toEqual(['k50', 'k51', 'k52', 'k53', 'k54', 'k55', 'k56', 'k57', 'k58', 'k59']);
    await post('_index', { index: { fields: ['doc.even'] }, ddoc: 'ev', name: 'ev' });
    const all = await post('_find', { selector: {}, limit: 1000 });
    expect(all.status, all.text).toBe(200);
    const everything = all.json as { docs: { _id: string }[] };
    expect(everything.docs.some((d) => d._id.startsWith('_design/'))).toBe(false);
    expect(everything.docs).toHaveLength(60);
  });
});
