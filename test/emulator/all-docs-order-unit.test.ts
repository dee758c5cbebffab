/**
 * The emulator's `_all_docs` in code point order (src/emulator/all-docs-order.ts), below HTTP: what a request cannot
 * time (a deletion between the listing of the ids and the read of their rows), CouchDB's offset past the end, and the
 * cost on a big database. Found by the review of the change; the HTTP-level cases are in all-docs-order.test.ts.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { describe, expect, it } from 'vitest';
import { allDocsByCodePoint } from '../../src/emulator/all-docs-order.js';

PouchDB.plugin(MemoryAdapter);
let n = 0;
const fresh = () => new PouchDB(`order-${Date.now()}-${n++}`, { adapter: 'memory' }) as never as PouchDB.Database<Record<string, unknown>>;

describe('allDocsByCodePoint', () => {
  it('a document deleted while the page is made is left out (CouchDB never lists a deleted id without keys)', async () => {
    const db = fresh();
    await db.bulkDocs([{ _id: 'a' }, { _id: 'b😀' }, { _id: 'b\ue000' }, { _id: 'c' }]);
    // A concurrent DELETE landing between the listing of the ids and the read of their rows (the route awaits between them).
    const real = db.allDocs.bind(db);
    let once = false;
    (db as unknown as { allDocs: unknown }).allDocs = async (opts: Record<string, unknown>) => {
      if (Array.isArray(opts.keys) && !once) {
        once = true;
        const c = await db.get('c');
        await db.remove(c);
      }
      return real(opts as never);
    };
    const page = (await allDocsByCodePoint(db, { include_docs: true }))!;
    expect(page).toBeDefined();
    const rows = page.rows as { id: string; value: { deleted?: boolean }; doc: unknown }[];
    expect(rows.filter((r) => r.value?.deleted)).toEqual([]);
    expect(rows.map((r) => r.id)).toEqual(['a', 'b\ue000', 'b😀']);
  });

  it('offset past the end is total_rows, as CouchDB 3 answers (skip=10 on 3 rows: offset 3)', async () => {
    const db = fresh();
    await db.bulkDocs([{ _id: 'a' }, { _id: 'b😀' }, { _id: 'b\ue000' }]);
    const page = (await allDocsByCodePoint(db, { skip: 10 }))!;
    const past = (await allDocsByCodePoint(db, { startkey: 'zz', skip: 1 }))!;
    expect({ skip: page.offset, past: past.offset }).toEqual({ skip: 3, past: 3 });
  });

  it('a big database with such ids: one listing and sort per change, then each page by binary search', async () => {
    const db = fresh();
    const N = 50_000;
    for (let i = 0; i < N; i += 5_000) await db.bulkDocs(Array.from({ length: 5_000 }, (_, j) => ({ _id: `k${String(i + j).padStart(6, '0')}` })));
    await db.bulkDocs([{ _id: 'z😀' }, { _id: 'z\ue000' }]);
    await allDocsByCodePoint(db, { limit: 1 });
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) expect((await allDocsByCodePoint(db, { startkey: 'k000100', endkey: 'k000109' }))!.rows).toHaveLength(10);
    const perPage = (performance.now() - t0) / 10;
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) await db.allDocs({ startkey: 'k000100', endkey: 'k000109' });
    const plain = (performance.now() - t1) / 10;
    // (It listed and sorted all 50,002 ids for every page: 350 ms against 0.1 ms.)
    expect(perPage).toBeLessThan(plain * 20 + 20);
  }, 120_000);

  it('a database without such ids takes PouchDB’s answer, whatever the bounds', async () => {
    const db = fresh();
    await db.bulkDocs([{ _id: 'a' }, { _id: 'b' }]);
    expect(await allDocsByCodePoint(db, { startkey: 'a', endkey: 'a\u{10ffff}' })).toBeUndefined();
    expect(await allDocsByCodePoint(db, { startkey: '\ue000', endkey: '\u{10ffff}' })).toBeUndefined();
  });
});
