import { toFeatError } from '../errors.js';
import { CHUNK_PREFIX, HIGH, isChunkId, type StoredDoc } from './codec.js';
import { rangesFrom } from './ranges.js';
import type { Db } from './db.js';

const MARK = '_local/feat-gc';

const rowsOf = (db: Db) => async (options: Record<string, unknown>) => {
  try {
    return (await db.allDocs(options)).rows;
  } catch (error) {
    throw toFeatError(error);
  }
};

/** The chunk ids that a manifest refers to, in a winning revision or a conflicting leaf. */
async function referencedChunks(db: Db): Promise<Set<string>> {
  const all = rowsOf(db);
  const referenced = new Set<string>();
  // Every manifest: the ids before the chunk range and after it, to the end of either id order (see rangesFrom).
  for (const range of [{ endkey: CHUNK_PREFIX }, ...rangesFrom(CHUNK_PREFIX + HIGH)]) {
    for (const row of await all({ ...range, include_docs: true, conflicts: true })) {
      const doc = row.doc;
      if (!doc || isChunkId(row.id)) continue;
      for (const id of doc.feat?.chunks ?? []) referenced.add(id);
      for (const rev of doc._conflicts ?? []) {
        const leaf = await db.get(row.id, { rev }).catch(() => undefined);
        for (const id of leaf?.feat?.chunks ?? []) referenced.add(id);
      }
    }
  }
  return referenced;
}

/**
 * The pull is about to write deletions of the chunks `ids` (another device's garbage collection, which knows only the
 * manifests it has: not those of a device that was offline and reused chunks its replica still had). Reads the content
 * this replica still holds of those a manifest here refers to; the returned step, run once the deletions are written, writes again those a
 * manifest here refers to — a new revision over the tombstone, which the push then sends to the server.
 */
export async function keepReferenced(db: Db, ids: string[]): Promise<() => Promise<unknown>> {
  // Only the content of chunks a manifest refers to now is read (a collection deletes unreferenced ones: reading every
  // deleted chunk's megabyte first held up to a batch of them in memory for nothing).
  const before = await referencedChunks(db);
  const wanted = ids.filter((id) => before.has(id));
  if (wanted.length === 0) return async () => undefined;
  const held = (await db.allDocs({ keys: wanted, include_docs: true })).rows.flatMap((row) => {
    const data = (row.doc as { data?: unknown } | null | undefined)?.data;
    return typeof data === 'string' && !row.value?.deleted ? [{ _id: row.key, data }] : [];
  });
  return async () => {
    if (held.length === 0) return;
    const referenced = await referencedChunks(db);
    const again = held.filter((c) => referenced.has(c._id));
    if (again.length > 0) await db.bulkDocs(again as unknown as StoredDoc[]);
  };
}

/**
 * Deletes chunk documents that no value (winning or conflicting revision) refers to, once they have been found
 * unreferenced for at least `graceMs` (remembered in a `_local` document, which never replicates).
 */
export async function collectChunks(db: Db, graceMs: number): Promise<{ deletedIds: string[]; kept: number }> {
  const chunkRows = await rowsOf(db)({ startkey: CHUNK_PREFIX, endkey: CHUNK_PREFIX + HIGH });
  const referenced = await referencedChunks(db);
  const now = Date.now();
  const marked = (await db.get(MARK).catch(() => undefined)) as (StoredDoc & { since?: Record<string, number> }) | undefined;
  const since: Record<string, number> = {};
  const doomed: StoredDoc[] = [];
  for (const row of chunkRows) {
    if (referenced.has(row.id)) continue;
    const first = marked?.since?.[row.id] ?? now;
    if (now - first >= graceMs) doomed.push({ _id: row.id, _rev: row.value.rev, _deleted: true });
    else since[row.id] = first;
  }
  if (doomed.length > 0) await db.bulkDocs(doomed);
  await db.put({ _id: MARK, ...(marked?._rev ? { _rev: marked._rev } : {}), since } as StoredDoc).catch(() => undefined);
  return { deletedIds: doomed.map((d) => d._id), kept: chunkRows.length - doomed.length };
}
