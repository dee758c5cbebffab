import { FeatConflictError, toFeatError } from '../errors.js';
import { decode, isExpired, sameJson, type StoredDoc } from '../store/codec.js';
import { compareRevs, keptExpiry, latestWriteWins, type ConflictResolver, type ConflictSide, type StoredSide } from '../store/conflicts.js';
import type { Db } from '../store/db.js';
import type { ConflictEvent } from '../store/store.js';
import { snapshotValue } from '../store/validate.js';
import { sleep } from '../util/abort.js';

const MAX_DELETED_LEAVES = 8;

async function sideOf(doc: StoredDoc, valueOf: (doc: StoredDoc) => Promise<unknown>): Promise<StoredSide> {
  const d = decode(doc);
  const deleted = d.deleted || isExpired(d);
  return { value: deleted ? undefined : await valueOf(doc), deleted, updatedAt: d.updatedAt, rev: d.rev, expiresAt: d.expiresAt };
}

/** What the resolver sees of a side (the expiry stays the SDK's). */
const shown = ({ value, deleted, updatedAt, rev }: StoredSide): ConflictSide => ({ value, deleted, updatedAt, rev });

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
  for (let attempt = 0; ; attempt++) {
    const outcome = await resolveOnce(db, id, resolver, emit, valueOf);
    if (outcome !== CHANGED) return outcome;
    if (attempt >= MAX_ATTEMPTS) {
      throw new FeatConflictError('conflict', `The conflict of "${id}" kept changing while it was resolved; it stays until the next change`, { key: id });
    }
    // Backoff with jitter: the write that moved the winner is usually done at once.
    await sleep(Math.random() * 25 * 2 ** attempt);
  }
}

/** The winner moved while a conflict was resolved (its resolved value met 409): read the leaves again. */
const CHANGED = 'changed';
/** Resolutions tried again after the winner moved, before giving up until the next change of the document. */
const MAX_ATTEMPTS = 5;

async function resolveOnce(
  db: Db,
  id: string,
  resolver: ConflictResolver | undefined,
  emit: (event: ConflictEvent) => void,
  valueOf: (doc: StoredDoc) => Promise<unknown>,
): Promise<boolean | typeof CHANGED> {
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
  const sides: StoredSide[] = [winner];
  const all: StoredDoc[] = [doc, ...leaves];
  let current: ConflictSide = shown(winner);
  let updatedAt = winner.updatedAt;
  for (const leaf of leaves) {
    const stored = await sideOf(leaf, valueOf);
    const other = shown(stored);
    sides.push(stored);
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
  const keepsWinner = current.deleted ? winner.deleted : !winner.deleted && sameJson(current.value, winner.value);
  if (!keepsWinner) {
    const chunks = current.deleted ? undefined : keptLeafChunks(current.value, sides, all);
    // The kept value keeps its expiry (a value written with `ttl` that wins still expires).
    const expiresAt = current.deleted ? undefined : keptExpiry(current.value, sides);
    const feat = expiresAt === undefined ? { updatedAt } : { updatedAt, expiresAt };
    const merged: StoredDoc = current.deleted
      ? { _id: id, _rev: doc._rev!, _deleted: true, feat: { updatedAt } }
      : chunks
        ? { _id: id, _rev: doc._rev!, feat: { ...feat, chunks } }
        : { _id: id, _rev: doc._rev!, doc: current.value, feat };
    // The resolved value first, the losing leaves only once it is written: when the winner moved meanwhile (a write
    // or a pull landed on it), deleting them anyway would drop their content, which the resolved value was to keep.
    const [r] = await db.bulkDocs([merged]);
    if (r?.error) {
      if (r.status === 409 || r.name === 'conflict') return CHANGED;
      throw toFeatError(r, { key: id });
    }
  }
  const results = await db.bulkDocs(losers.map((rev) => ({ _id: id, _rev: rev, _deleted: true })));
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
