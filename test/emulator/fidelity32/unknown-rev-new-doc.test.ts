/**
 * A write naming an unknown `_rev` of a document that never existed. CouchDB 3.4 (couch_db:before_docs_update) checks a
 * shard's batch against the stored documents only while that shard's validation functions are not loaded (after the
 * shard opened, and again after any design document of the database was written) or when the batch holds a design
 * document or a document with attachments: then such a write is a conflict. Otherwise the batch goes straight to the
 * updater, which writes it at the next position (a deletion as a tombstone). The functions load when a write of that
 * shard is validated (a new document without `_rev`, an update naming a leaf). Per-user databases have one shard
 * (couch_peruser's q=1), so the state is the database's.
 */
import { describe, expect, it } from 'vitest';
import { h32, j, ownDatabase } from '../fidelity31/setup.js';

const JSON_TYPE = { 'Content-Type': 'application/json' };
const tag = Math.random().toString(36).slice(2, 8);
let counter = 0;
const fresh = (prefix: string) => `${prefix}-${tag}-${counter++}`;
const conflict = (id: string) => ({ id, error: 'conflict', reason: 'Document update conflict.' });
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
const unknownRev = `1-${h32('a')}`;

describe('_bulk_docs and PUT naming an unknown _rev of a new document', () => {
  const first = ownDatabase('f32ur');
  it('in a new database: a conflict, alone, in a batch, by PUT, value and deletion alike (nothing is written)', async () => {
    const { send } = first;
    const [a, b, c] = [fresh('v'), fresh('d'), fresh('p')];
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: a, _rev: unknownRev, v: 1 }, { _id: b, _rev: unknownRev, _deleted: true }] }), JSON_TYPE);
    expect({ status: r.status, body: r.body }).toEqual({ status: 201, body: [conflict(a), conflict(b)] });
    const p = await send('PUT', `/{db}/${c}`, j({ _rev: unknownRev, v: 1 }), JSON_TYPE);
    expect({ status: p.status, body: p.body }).toEqual({ status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } });
    for (const id of [a, b, c]) expect((await send('GET', `/{db}/${id}`)).status).toBe(404);
    // A new document in the same request does not change the answer for the other (checked before anything is written).
    const [n, u] = [fresh('n'), fresh('u')];
    const mixed = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: n, v: 1 }, { _id: u, _rev: unknownRev, v: 1 }] }), JSON_TYPE);
    expect((mixed.body as unknown[])[0]).toMatchObject({ id: n, ok: true });
    expect((mixed.body as unknown[])[1]).toEqual(conflict(u));
  });

  it('once a new document was written: written at the next position, a value, a deletion (a tombstone) and a PUT', async () => {
    const { send } = first;
    // A per-user database is one shard.
    expect(((await send('GET', '/{db}')).body as { cluster?: unknown }).cluster).toEqual({ q: 1, n: 1, w: 1, r: 1 });
    expect((await send('PUT', `/{db}/${fresh('seed')}`, j({ v: 0 }), JSON_TYPE)).status).toBe(201);
    await settle();
    const [a, b, c] = [fresh('v'), fresh('d'), fresh('p')];
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: a, _rev: unknownRev, v: 1 }, { _id: b, _rev: unknownRev, _deleted: true }] }), JSON_TYPE);
    expect(r.status).toBe(201);
    const rows = r.body as { id: string; ok?: boolean; rev?: string }[];
    expect(rows[0]).toMatchObject({ id: a, ok: true, rev: expect.stringMatching(/^2-[0-9a-f]{32}$/) });
    expect(rows[1]).toMatchObject({ id: b, ok: true, rev: expect.stringMatching(/^2-[0-9a-f]{32}$/) });
    const p = await send('PUT', `/{db}/${c}`, j({ _rev: unknownRev, v: 1 }), JSON_TYPE);
    expect({ status: p.status, ok: (p.body as { ok?: unknown }).ok, rev: (p.body as { rev?: string }).rev?.slice(0, 2) }).toEqual({ status: 201, ok: true, rev: '2-' });
    const read = await send('GET', `/{db}/${a}?revs=true`);
    expect((read.body as { _revisions?: unknown })._revisions).toEqual({ start: 2, ids: [rows[0]!.rev!.slice(2), h32('a')] });
    // The deletion is a tombstone.
    expect(await send('GET', `/{db}/${b}`).then((g) => ({ status: g.status, body: g.body }))).toEqual({ status: 404, body: { error: 'not_found', reason: 'deleted' } });
  });

  it('a design document in the batch, or one written since: a conflict again', async () => {
    const { send } = first;
    const ddoc = `_design/${tag}`;
    const sameShard = fresh('w');
    expect((await send('PUT', `/{db}/${fresh('seed')}`, j({ v: 0 }), JSON_TYPE)).status).toBe(201);
    await settle();
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: sameShard, _rev: unknownRev, v: 1 }, { _id: ddoc, views: {} }] }), JSON_TYPE);
    expect(r.status).toBe(201);
    expect((r.body as unknown[])[0]).toEqual(conflict(sameShard));
    expect((r.body as unknown[])[1]).toMatchObject({ id: ddoc, ok: true });
    await settle();
    // Writing a design document unloads the functions.
    const [a, b] = [fresh('after'), fresh('after')];
    const again = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: a, _rev: unknownRev, v: 1 }, { _id: b, _rev: unknownRev, v: 1 }] }), JSON_TYPE);
    expect({ status: again.status, body: again.body }).toEqual({ status: 201, body: [conflict(a), conflict(b)] });
  });

  const second = ownDatabase('f32ua');
  it('a document with attachments in the batch: a conflict, though the functions are loaded', async () => {
    const { send } = second;
    expect((await send('PUT', `/{db}/${fresh('seed')}`, j({ v: 0 }), JSON_TYPE)).status).toBe(201);
    await settle();
    const [a, withAtt] = [fresh('v'), fresh('att')];
    const r = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: a, _rev: unknownRev, v: 1 }, { _id: withAtt, _attachments: { 't.txt': { content_type: 'text/plain', data: 'aGk=' } } }] }), JSON_TYPE);
    expect(r.status).toBe(201);
    expect((r.body as unknown[])[0]).toEqual(conflict(a));
    expect((r.body as unknown[])[1]).toMatchObject({ id: withAtt, ok: true });
    // Without an attachment in the batch: written.
    const b = fresh('v');
    const plain = await send('POST', '/{db}/_bulk_docs', j({ docs: [{ _id: b, _rev: unknownRev, v: 1 }] }), JSON_TYPE);
    expect((plain.body as unknown[])[0]).toMatchObject({ id: b, ok: true });
  });
});
