import { FeatConflictError, toFeatError } from '../errors.js';
import { decode, isExpired, sameJson, type StoredDoc } from '../store/codec.js';
import { compareRevs, latestWriteWins, type ConflictResolver, type ConflictSide } from '../store/conflicts.js';
import type { Db } from '../store/db.js';
import type { ConflictEvent } from '../store/store.js';
import { snapshotValue } from '../store/validate.js';

const MAX_DELETED_LEAVES = 8;

async function sideOf(doc: StoredDoc, valueOf: (doc: StoredDoc) => Promise<unknown>): Promise<ConflictSide> {
  const d = decode(doc);
  const deleted = d.deleted || isExpired(d);
  return { value: deleted ? undefined : await valueOf(doc), deleted, updatedAt: d.updatedAt, rev: d.rev };
}

/**
 * Resolves a document with `_conflicts` (two devices' revisions met in replication). Deterministic, so every device
 * that resolves the same conflict writes the same revisions (PouchDB's revisions are content hashes) and no new
 * conflict appears: the leaves are folded in CouchDB's winner order — `local` is the current winner, `remote` the
 * other leaf — the result is written on top of the winner with the latest `updatedAt` of the leaves, and the losing
 * leaves are deleted.
 */
export async function resolveLeaves(
  db: Db,
  id: string,
  resolver: ConflictResolver | undefined,
  emit: (event: ConflictEvent) => void,
  valueOf: (doc: StoredDoc) => Promise<unknown>,
): Promise<boolean> {
  // Design documents (query indexes) and other `_` documents are not values: never resolved, never deleted.
  if (id.startsWith('_')) return false;
  // Every leaf, deleted ones included (one read): CouchDB's winner is the highest live leaf.
  let found: { ok?: StoredDoc }[];
  try {
    found = (await db.get(id, { open_revs: 'all' })) as unknown as { ok?: StoredDoc }[];
  } catch (error) {
    if ((error as { status?: number }).status === 404) return false;
    throw toFeatError(error, { key: id });
  }
  const byRev = (a: StoredDoc, b: StoredDoc) => -compareRevs(a._rev, b._rev);
  const live = found.flatMap((l) => (l.ok && !l.ok._deleted ? [l.ok] : [])).sort(byRev);
  const doc = live[0];
  if (!doc) return false;
  const losers = live.slice(1).map((l) => l._rev!);
  const leaves: StoredDoc[] = live.slice(1);
  // A live leaf beats a deleted one in CouchDB whatever their times; a removal written later than every live leaf
  // (another device deleted the key while this one wrote it) takes part too. Only the newest few are looked at.
  const liveAt = Math.max(...live.map((l) => decode(l).updatedAt));
  const deleted = found.flatMap((l) => (l.ok && l.ok._deleted ? [l.ok] : [])).sort(byRev).slice(0, MAX_DELETED_LEAVES);
  for (const leaf of deleted) if (decode(leaf).updatedAt > liveAt) leaves.push(leaf);
  if (leaves.length === 0) return false;
  const resolve = resolver ?? latestWriteWins;
  const winner = await sideOf(doc, valueOf);
  const sides: ConflictSide[] = [winner];
  const all: StoredDoc[] = [doc, ...leaves];
  let current = winner;
  let updatedAt = winner.updatedAt;
  for (const leaf of leaves) {
    const other = await sideOf(leaf, valueOf);
    sides.push(other);
    updatedAt = Math.max(updatedAt, other.updatedAt);
    let value: unknown;
    try {
      value = await resolve({ key: id, local: current, remote: other });
    } catch (error) {
      throw new FeatConflictError('conflict', `The conflict resolver failed for "${id}"; the conflict stays until it succeeds`, {
        key: id,
        cause: error,
      });
    }
    if (value !== undefined) value = snapshotValue(value, id);
    emit({ key: id, local: current, remote: other, resolved: value, source: 'replication' });
    current = { value, deleted: value === undefined, updatedAt, rev: current.rev };
  }
  const docs: StoredDoc[] = losers.map((rev) => ({ _id: id, _rev: rev, _deleted: true }));
  const keepsWinner = current.deleted ? winner.deleted : !winner.deleted && sameJson(current.value, winner.value);
  if (!keepsWinner) {
    docs.push(
      current.deleted
        ? { _id: id, _rev: doc._rev!, _deleted: true, feat: { updatedAt } }
        : keptLeafChunks(current.value, sides, all)
          ? { _id: id, _rev: doc._rev!, feat: { updatedAt, chunks: keptLeafChunks(current.value, sides, all)! } }
          : { _id: id, _rev: doc._rev!, doc: current.value, feat: { updatedAt } },
    );
  }
  const results = await db.bulkDocs(docs);
  for (const r of results) {
    if (r.error && r.status !== 409) throw toFeatError(r, { key: id });
  }
  return true;
}

/** When the kept value is a chunked leaf's value, its manifest's chunks (so a big value is never written inline). */
function keptLeafChunks(value: unknown, sides: ConflictSide[], docs: StoredDoc[]): string[] | undefined {
  const i = sides.findIndex((s) => !s.deleted && sameJson(s.value, value));
  return i >= 0 ? docs[i]?.feat?.chunks : undefined;
}
