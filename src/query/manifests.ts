/**
 * The manifests of chunked values (documents with `feat.chunks`) under a query's prefix, on the replica, without an
 * index over every document. A Mango index of `feat.chunks` (what the server still uses) is built by pouchdb-find over
 * the whole replica on its first query, chunk documents included: on a device that just pulled an account with a few
 * big values that read tens of MB through IndexedDB (seconds) before the first answer. Here:
 *
 * - a prefix's manifests are read once through `_all_docs` over its range, chunk ids left out (the range a query with
 *   no index reads anyway), and kept in memory with the replica's version read before (store/replica-version.ts:
 *   current across tabs);
 * - a later query at a newer version reads only what changed since (the changes feed from that version, ids only),
 *   then the changed documents under the prefix (not chunks), by id: a value made chunked, or no longer, or removed,
 *   here or in another tab or by replication, is seen as its index would have.
 */
import { CHUNK_PREFIX, decode, HIGH, type StoredDoc } from '../store/codec.js';
import type { AllDocsRow, Db } from '../store/db.js';
import type { StoreIO } from '../store/io.js';
import { prefixRanges, rangeRows, rangesFrom, type IdRange } from '../store/ranges.js';
import { INTERNAL_PREFIX } from '../store/validate.js';

/** A prefix's manifests as of `version` (every change up to it read). */
interface Entry {
  version: number;
  manifests: Map<string, StoredDoc>;
}

/** Per replica, per prefix: the last entry (or its making). At most PREFIXES_MAX prefixes per replica are kept. */
const tracked = new WeakMap<Db, Map<string, Promise<Entry | undefined>>>();
const PREFIXES_MAX = 64;
/** Changes read to catch an entry up at most. */
const CATCH_UP_MAX = 2_000;

/**
 * The `_all_docs` ranges of the ids under `prefix` (store/ranges.ts), the chunk documents' range left out: never a
 * query's, and most of a replica's bytes where it holds big values.
 */
export function valueRanges(prefix: string): IdRange[] {
  const [first, ...rest] = (prefix ? prefixRanges(prefix) : rangesFrom('')) as [IdRange, ...IdRange[]];
  // A prefix of the (ASCII) chunk prefix: its first range holds the chunks (in both orders of ids), cut around them.
  return CHUNK_PREFIX.startsWith(prefix) ? [{ ...first, endkey: CHUNK_PREFIX }, { ...first, startkey: CHUNK_PREFIX + HIGH }, ...rest] : [first, ...rest];
}

/**
 * The documents under `prefix` to read: all of them, chunks left out (no `entry`), or those changed since `entry`'s
 * version (the changes feed, ids only).
 */
async function rowsOf(io: StoreIO, db: Db, prefix: string, entry: Entry | undefined): Promise<AllDocsRow[]> {
  if (!entry) return rangeRows(io.allDocs, db, valueRanges(prefix), { include_docs: true });
  // (Bounded: after more changes than that, the prefix is read whole again.)
  const feed = (await db.changes({ since: entry.version, return_docs: true, limit: CATCH_UP_MAX })) as { results: { id: string }[] };
  if (feed.results.length >= CATCH_UP_MAX) return rowsOf(io, db, prefix, undefined);
  const keys = feed.results.map((change) => change.id).filter((id) => id.startsWith(prefix) && !id.startsWith(INTERNAL_PREFIX));
  return keys.length ? (await io.allDocs(db, { keys, include_docs: true })).rows : [];
}

/**
 * The manifests under `prefix` in the replica `db` as of `version` (read before this is called: a write landing
 * meanwhile is read by the next call); `undefined` (the version cannot be known): read whole, kept for nobody.
 */
export async function replicaManifests(io: StoreIO, db: Db, prefix: string, version: number | undefined): Promise<StoredDoc[]> {
  let byPrefix = tracked.get(db);
  if (!byPrefix || (byPrefix.size >= PREFIXES_MAX && !byPrefix.has(prefix))) tracked.set(db, (byPrefix = new Map()));
  // One after the other per prefix: an entry is never replaced by one older than it. An entry read at this version or
  // later (by a query that started after this one) is as current as asked.
  const next = Promise.resolve(version === undefined ? undefined : byPrefix.get(prefix)).then(async (entry): Promise<Entry> => {
    if (entry && entry.version >= version!) return entry;
    const manifests = new Map<string, StoredDoc>(entry?.manifests);
    for (const row of await rowsOf(io, db, prefix, entry)) {
      // (A key not found: a row with `error`, no value.)
      if (!row.key.startsWith(prefix)) continue;
      // (As `get()` reads it: decode.)
      if (row.doc && !row.value?.deleted && decode(row.doc).chunks !== undefined) manifests.set(row.key, row.doc);
      else manifests.delete(row.key);
    }
    return { version: version!, manifests };
  });
  // A failure is kept for no one: the next call reads whole.
  if (version !== undefined) byPrefix.set(prefix, next.catch(() => undefined));
  return [...(await next).manifests.values()];
}
