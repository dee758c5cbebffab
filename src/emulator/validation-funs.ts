/**
 * When CouchDB 3.4 checks a write against the stored documents before writing it, which decides what happens to a write
 * naming an unknown `_rev` of a document that never existed (measured on 3.4.3, couch_db:before_docs_update):
 *
 * - The check (couch_db:prep_and_validate_updates) runs for a shard's part of a request when the shard's validation
 *   functions are not loaded, or when that part holds a design document or a document with attachments. It answers
 *   such a write `conflict` ("old revs specified but none exist").
 * - Otherwise the part goes straight to the updater, which merges the write into an empty revision tree: it is written
 *   at the next position (a deletion as a tombstone).
 * - A shard's functions are not loaded when it opens (here: when the emulator opened the database), and again after
 *   any design document of the database is written (couch_db_updater:refresh_validate_doc_funs, then
 *   fabric:reset_validation_funs for every shard). They load when the check validates a write of that shard (a new
 *   document without `_rev`, an update naming a leaf): from then on its later requests skip the check.
 *
 * The emulator derives the state from the changes feed instead of keeping it: a shard is loaded when a document of it
 * (not a design document) changed after the database was opened and after the last design document change. A write
 * that changes a document passed the check or skipped it because the functions were loaded, so either way they are.
 * A per-user database has one shard (couch_peruser's `q` 1); others CouchDB's default 2, by the CRC-32 of the id.
 */
import type { Database } from './storage.js';

/** `q` of a database: couch_peruser makes per-user databases with 1 shard, CouchDB's `[cluster] q` default is 2. */
export function shardCount(dbName: string): number {
  return dbName.startsWith('userdb-') ? 1 : 2;
}

let table: Uint32Array | undefined;
/** The CRC-32 (zlib's, which mem3_hash:crc32 uses) of the id's UTF-8 bytes. */
function crc32(text: string): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The shard of a document id among `q` equal ranges of the 32-bit hash (mem3's ranges). */
export function shardOf(id: string, q: number): number {
  return q <= 1 ? 0 : Math.min(q - 1, Math.floor(crc32(id) / (0x1_0000_0000 / q)));
}

/** True when a document of a request makes CouchDB check its shard's part whatever the functions' state. */
function forcesCheck(doc: Record<string, unknown>): boolean {
  if (typeof doc._id === 'string' && doc._id.startsWith('_design/')) return true;
  const atts = doc._attachments;
  return typeof atts === 'object' && atts !== null && Object.keys(atts).length > 0;
}

/** The shards whose validation functions were loaded at `untilSeq`: a non-design document of it changed since the last reset. */
async function loadedShards(db: Database, q: number, openedSeq: number, untilSeq: number): Promise<Set<number>> {
  const feed = await db.changes({ since: openedSeq, return_docs: true } as PouchDB.Core.ChangesOptions);
  const rows = feed.results.filter((row) => Number(row.seq) <= untilSeq);
  let resetSeq = openedSeq;
  for (const row of rows) if (row.id.startsWith('_design/')) resetSeq = Math.max(resetSeq, Number(row.seq));
  const loaded = new Set<number>();
  for (const row of rows) if (!row.id.startsWith('_design/') && Number(row.seq) > resetSeq) loaded.add(shardOf(row.id, q));
  return loaded;
}

/**
 * For one request of interactive edits (`docs`), made before anything of it is written: whether CouchDB checks a
 * document against the stored ones before writing it (so that an unknown `_rev` of a new document is a conflict). The
 * state is the one before the request, as CouchDB decides it for the whole request; the changes feed is read only
 * when a document needs the answer.
 */
export async function checkBeforeWrite(db: Database, dbName: string, openedSeq: number, docs: Record<string, unknown>[]): Promise<(id: string) => Promise<boolean>> {
  // `_users` has `_design/_auth`'s validate_doc_update: every write is checked.
  if (dbName === '_users') return () => Promise.resolve(true);
  const q = shardCount(dbName);
  const forced = new Set<number>();
  for (const doc of docs) {
    if (typeof doc._id === 'string' && !doc._id.startsWith('_local/') && forcesCheck(doc)) forced.add(shardOf(doc._id, q));
  }
  const untilSeq = Number((await db.info()).update_seq);
  let loaded: Promise<Set<number>> | undefined;
  return async (id) => {
    const shard = shardOf(id, q);
    if (forced.has(shard)) return true;
    loaded ??= loadedShards(db, q, openedSeq, untilSeq);
    return !(await loaded).has(shard);
  };
}
