/**
 * The replica answers `allDocs({ keys, include_docs })` with a `get` per id (src/store/keyed-reads.ts). The answer
 * must be PouchDB's own, row for row, whatever the ids name: live, deleted, never written, conflicted documents,
 * design and `_local` documents, duplicates, more ids than are read at once. Checked against PouchDB's `allDocs` on the
 * same database, on the memory and leveldb adapters.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import PouchDB from 'pouchdb-core';
import LevelAdapter from 'pouchdb-adapter-leveldb';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { readByIds } from '../../src/store/keyed-reads.js';

const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
if (!core.adapters.leveldb) PouchDB.plugin(LevelAdapter);
const dir = mkdtempSync(join(tmpdir(), 'feat-keyed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Any = Record<string, unknown>;
type Pouch = { allDocs(o: Any): Promise<{ rows: Any[] }>; get(id: string, o?: Any): Promise<Any>; bulkDocs(d: Any[], o?: Any): Promise<Any[]>; put(d: Any): Promise<Any>; remove(id: string, rev: string): Promise<Any>; destroy(): Promise<void> };

async function fixture(adapter: 'memory' | 'leveldb') {
  const name = adapter === 'leveldb' ? join(dir, `db-${Math.random()}`) : `keyed-${Math.random()}`;
  const db = new PouchDB(name, { adapter }) as unknown as Pouch;
  const original = db.allDocs.bind(db);
  const ids: string[] = [];
  const docs = Array.from({ length: 300 }, (_, i) => ({ _id: `k${String(i).padStart(3, '0')}`, doc: { i }, feat: { updatedAt: i } }));
  await db.bulkDocs(docs);
  ids.push(...docs.map((d) => d._id));
  // Deleted documents, one deleted then written again, a conflicted one (a second leaf), a design and a _local doc.
  for (const id of ['k001', 'k002', 'k003']) await db.remove(id, (await db.get(id))._rev as string);
  await db.put({ _id: 'k003', doc: 'back' });
  await db.bulkDocs([{ _id: 'k004', _rev: '1-ffffffffffffffffffffffffffffffff', doc: 'other leaf' }], { new_edits: false });
  await db.bulkDocs([{ _id: 'k005', _rev: '1-00000000000000000000000000000000', doc: 'losing leaf' }], { new_edits: false });
  await db.put({ _id: '_design/x', views: {} });
  await db.put({ _id: '_local/x', at: 1 });
  ids.push('_design/x', '_local/x', 'never', 'k999', 'é', '😀');
  readByIds(db as never);
  return { db, original, ids };
}

describe.each(['memory', 'leveldb'] as const)('allDocs by keys with documents, answered by gets: %s', (adapter) => {
  it('gives PouchDB’s answer row for row (live, deleted, re-created, conflicted, design, _local, missing, duplicates)', async () => {
    const { db, original, ids } = await fixture(adapter);
    const cases: Any[] = [
      { keys: ['k000', 'k001', 'k002', 'k003', 'k004', 'k005', '_design/x', '_local/x', 'never', 'k000', 'é'], include_docs: true },
      { keys: ['k004', 'k005', 'k001'], include_docs: true, conflicts: true },
      { keys: ids, include_docs: true },
      { keys: [], include_docs: true },
      // Not answered by gets (other options): still PouchDB's answer.
      { keys: ['k000', 'k001'], include_docs: true, descending: true },
      { keys: ['k000', 'k001', 'k002'], include_docs: true, skip: 1, limit: 1 },
      { keys: ['k000', 'k001'] },
    ];
    for (const options of cases) {
      const expected = await original(structuredClone(options));
      const actual = await db.allDocs(structuredClone(options));
      expect(actual.rows, JSON.stringify(options).slice(0, 80)).toEqual(expected.rows);
    }
    await db.destroy();
  });

  it('random id lists (duplicates, unknown ids, every kind of document) get the same rows', async () => {
    const { db, original, ids } = await fixture(adapter);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...ids), { maxLength: 400 }), fc.boolean(), async (keys, conflicts) => {
        const options = { keys, include_docs: true, ...(conflicts ? { conflicts: true } : {}) };
        expect((await db.allDocs(structuredClone(options))).rows).toEqual((await original(structuredClone(options))).rows);
      }),
      { numRuns: 40 },
    );
    await db.destroy();
  });
});
