/**
 * A `_bulk_docs` CouchDB refuses whole (400) writes none of its documents: chttpd_db reads every entry before it
 * writes any. The emulator wrote an entry naming an unknown `_rev` of a new document before the refusal.
 */
import { describe, expect, it } from 'vitest';
import { h32, j, ownDatabase } from './setup.js';

const { send } = ownDatabase('f31bulk');
const fresh = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

describe('_bulk_docs refused whole: nothing written', () => {
  it('an id reserved by CouchDB in one entry → 400 illegal_docid; the entries before and after are not written', async () => {
    const [a, b] = [fresh('bm1'), fresh('bm2')];
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: a }, { _id: '_bad' }, { _id: b, _rev: `1-${h32('a')}` }] }), { 'Content-Type': 'application/json' });
    // Real: 400 {"error":"illegal_docid","reason":"Only reserved document ids may start with underscore."}
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'illegal_docid', reason: 'Only reserved document ids may start with underscore.' } });
    const all = await send('POST', '/{db}/_all_docs', j({ keys: [a, b] }), { 'Content-Type': 'application/json' });
    // Real: neither exists.
    expect((all.body as { rows: unknown[] }).rows).toEqual([
      { key: a, error: 'not_found' },
      { key: b, error: 'not_found' },
    ]);
  });

  it('a _rev that is not a revision in another entry → 400; the document with an unknown _rev is not written', async () => {
    const id = fresh('bv');
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: id, _rev: `1-${h32('b')}` }, { _id: `${id}-y`, _rev: 'garbage' }] }), { 'Content-Type': 'application/json' });
    // Real: 400 {"error":"bad_request","reason":"Invalid rev format"}, nothing written.
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'bad_request', reason: 'Invalid rev format' } });
    expect((await send('GET', `/{db}/${id}`)).status).toBe(404);
    expect((await send('GET', `/{db}/${id}-y`)).status).toBe(404);
  });

  it('an id named twice and a refused entry after it: the first edit is not written either', async () => {
    const id = fresh('bt');
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: id, v: 1 }, { _id: id, v: 2 }, { _id: '_nope' }] }), { 'Content-Type': 'application/json' });
    // Real: 400 illegal_docid; the document does not exist.
    expect(r.status).toBe(400);
    expect((await send('GET', `/{db}/${id}`)).status).toBe(404);
  });
});
