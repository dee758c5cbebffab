import { toFeatError } from '../errors.js';
import { CHUNK_PREFIX, HIGH, isChunkId, type StoredDoc } from '../store/codec.js';
import { rangesFrom } from '../store/ranges.js';
import type { AllDocsRow, Db } from '../store/db.js';
import { INTERNAL_PREFIX } from '../store/validate.js';
import { throwIfAborted, withSignal } from '../util/abort.js';
import { readReplica } from '../util/chunk-lock.js';

/** True for ids that are not user keys: CouchDB's (`_design/…`) and the SDK's own (`feat~…`, chunks). */
export function isInternalId(id: string): boolean {
  return id.startsWith('_') || id.startsWith(INTERNAL_PREFIX);
}

/** `db.allDocs(options)`, errors as FeatErrors; `replica`: bounded and asked again (util/chunk-lock.ts `readReplica`). */
export async function allDocs(db: Db, options: Record<string, unknown>, replica = false): Promise<{ rows: AllDocsRow[]; total_rows?: number }> {
  try {
    return await (replica ? readReplica(() => db.allDocs(options), 'reading a page of keys') : db.allDocs(options));
  } catch (error) {
    throw toFeatError(error);
  }
}

/**
 * The user documents (with bodies), a page at a time: every id outside the chunk range, in id order. Chunk documents
 * are never fetched (they hold the text of big values, which only their manifests' readers need).
 */
export async function* userDocPages(
  db: Db,
  options: { limit: number; signal?: AbortSignal | undefined; total?: (n: number) => void; replica?: boolean },
): AsyncGenerator<{ id: string; doc: StoredDoc }[]> {
  // Ids starting with U+E000–U+FFFF come twice where ids are ordered by code points (see rangesFrom): few, kept here.
  const high = new Set<string>();
  for (const range of [{ endkey: CHUNK_PREFIX }, ...rangesFrom(CHUNK_PREFIX + HIGH)]) {
    let last: string | undefined;
    for (;;) {
      throwIfAborted(options.signal);
      const page = await withSignal(
        allDocs(db, {
          ...range,
          ...(last === undefined ? {} : { startkey: last, skip: 1 }),
          limit: options.limit,
          include_docs: true,
        }, options.replica),
        options.signal,
      );
      if (page.total_rows !== undefined) options.total?.(page.total_rows);
      throwIfAborted(options.signal);
      const docs: { id: string; doc: StoredDoc }[] = [];
      for (const row of page.rows) {
        if (!row.doc || row.value.deleted || isInternalId(row.id) || isChunkId(row.id) || high.has(row.id)) continue;
        if (row.id.charCodeAt(0) >= 0xe000) high.add(row.id);
        docs.push({ id: row.id, doc: row.doc });
      }
      if (docs.length > 0) yield docs;
      if (page.rows.length < options.limit) break;
      last = page.rows[page.rows.length - 1]!.id;
    }
  }
}
