import { toFeatError } from '../errors.js';
import { CHUNK_PREFIX, HIGH, isChunkId, type StoredDoc } from './codec.js';
import { rangesFrom } from './ranges.js';
import type { Db } from './db.js';

const MARK = '_local/feat-gc';

/**
 * Deletes chunk documents that no value (winning or conflicting revision) refers to, once they have been found
 * unreferenced for at least `graceMs` (remembered in a `_local` document, which never replicates).
 */
export async function collectChunks(db: Db, graceMs: number): Promise<{ deletedIds: string[]; kept: number }> {
  const all = async (options: Record<string, unknown>) => {
    try {
      return (await db.allDocs(options)).rows;
    } catch (error) {
      throw toFeatError(error);
    }
  };
  const chunkRows = await all({ startkey: CHUNK_PREFIX, endkey: CHUNK_PREFIX + HIGH });
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
