/**
 * Local replica only, loaded on first use: the revisions of the documents a write batch goes to that the store does not
 * know yet (after a start, or after replication changed them).
 */
import { decode, type WriteOp } from './codec.js';
import type { Db } from './db.js';
import type { StoreIO } from './io.js';

/**
 * Looks up the unknown revisions in one request. A live one the app did not see asks the resolver: the key was read as
 * absent before the write was made, or the revision is stamped after the write was made (by the other device's
 * clock; it may have just been pulled). One stamped ahead of this
 * device's clock (a clock set back, another device's fast clock) is not held against the write. The deletion of a key
 * already deleted goes to the resolver's path, which compares both deletions' times (the later one is kept, so that
 * an earlier concurrent write of another device does not win over it); a set over a deletion is sent without a
 * revision and checked after it landed (`checkRecreated`).
 *
 * The read is bounded and asked again (the store's reads of the replica: util/chunk-lock.ts `readReplica`); the batch
 * fails with `timeout` when the replica does not answer.
 */
export async function lookUp(io: StoreIO, db: Db, batch: { id: string; op: WriteOp }[]): Promise<void> {
  const known = io.known();
  const lookup = batch.filter((b) => known.rev(b.id) === undefined);
  const found = await io.allDocs(db, { keys: lookup.map((b) => b.id), include_docs: true });
  const now = Date.now();
  found.rows.forEach((row, i) => {
    const item = lookup[i]!;
    if (!row.error && row.value && !row.value.deleted) {
      const own = io.ctx.isOwn(item.id, row.value.rev);
      const at = row.doc && !own ? decode(row.doc).updatedAt : 0;
      // The app read the key as absent before making this write: a live revision now is one it did not see.
      const absent = known.absentSince(item.id);
      const unseen = !own && absent !== undefined && absent < item.op.seq;
      // (A default, time 0, meets any stamp: see store.ts AS_OF.)
      known.set(item.id, row.value.rev, undefined, unseen || (at > item.op.at && (at <= now || item.op.at === 0)) ? Infinity : 0);
    }
    else if (item.op.deleted && row.value?.deleted) known.set(item.id, row.value.rev, undefined, Infinity);
  });
}
