import { FeatConflictError, toFeatError } from '../errors.js';
import { decode, isExpired, isUnheld, sameJson, type StoredDoc, type WriteOp } from '../store/codec.js';
import { askResolver, compareRevs, keptExpiry, latestWriteWins, type ConflictResolver, type ConflictSide, type StoredSide } from '../store/conflicts.js';
import type { Db } from '../store/db.js';
import { supersededRevs } from '../store/lineage.js';
import { snapshotValue } from '../store/validate.js';
import type { ConflictEvent } from '../store/store.js';
import { sleep } from '../util/abort.js';
import { hex } from '../util/hash.js';
import { slicesPerId } from '../util/slices.js';

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
 * that resolves the same conflict writes the same revisions and no new conflict appears: the leaves are folded in
 * CouchDB's winner order — `local` is the current winner, `remote` the other leaf (one holding the same value as the
 * fold so far is no conflict: the resolver is not asked) — and the result, on top of the winner with the latest
 * `updatedAt` of the leaves, and the deletions of the losing leaves are written in one request, with revision ids
 * derived from parent and content (`new_edits: false`): every device and a remote-mode reader write the very same
 * revisions, and no one sees the merge next to a leaf it already holds. A merge too big for one document is chunked
 * (`chunk`: the store's `chunkIfLarge`). Each call of the resolver is bounded by `RESOLVER_TIMEOUT_MS` (then
 * `conflict`, as when it throws) and ended by `closed` (the client's lifetime signal: the FeatError it was aborted
 * with, `closed`).
 */
export async function resolveLeaves(
  db: Db,
  id: string,
  resolver: ConflictResolver | undefined,
  emit: (event: ConflictEvent) => void,
  valueOf: (doc: StoredDoc) => Promise<unknown>,
  chunk: (id: string, op: WriteOp) => Promise<string[] | undefined>,
  closed?: AbortSignal,
  elsewhere?: () => Promise<void>,
): Promise<boolean> {
  let wrote = false;
  let changed = 0;
  for (let round = 0; ; round++) {
    const outcome = await resolveOnce(db, id, resolver, emit, valueOf, chunk, closed, elsewhere);
    if (outcome === false) return wrote;
    // Written: read the leaves once more (a write that landed meanwhile is a leaf next to the result). Under a stream
    // of changes that goes on, the rest waits for the next pull or read of the document (never counted as a failure).
    if (outcome === true) {
      wrote = true;
      if (round >= MAX_ROUNDS) return true;
      continue;
    }
    // Changed before the write: backoff with jitter, the write that moved the winner is usually done at once.
    if (changed >= MAX_ATTEMPTS) {
      throw new FeatConflictError('conflict', `The conflict of "${id}" kept changing while it was resolved; it stays until the next change`, { key: id });
    }
    await sleep(Math.random() * 25 * 2 ** changed++);
  }
}

/** Resolutions written in a row for one document at most, before the rest waits for its next change. */
const MAX_ROUNDS = 20;

const encoder = new TextEncoder();

/** The leaves changed while a conflict was resolved (a write or a pull landed): read them again. */
const CHANGED = 'changed';
/** Resolutions tried again after the winner moved, before giving up until the next change of the document. */
const MAX_ATTEMPTS = 5;

/**
 * The later removals without the purges (maintenance's deletion of an expired value, which keeps that value's stamps)
 * of a revision a live leaf was written on: an edit made on top of the expired value replaced it, whatever the clock of
 * the device that made it said (one running behind stamped it earlier than the value it edited: docs/export.md, "a
 * write made after that value, on any device, wins over the purge"). Read only when there is such a purge.
 */
async function withoutOverwrittenPurges(db: Db, id: string, later: StoredDoc[], live: StoredDoc[]): Promise<StoredDoc[]> {
  const purges = later.filter((l) => decode(l).expiresAt !== undefined);
  if (!purges.length || !live.length) return later;
  let read: { ok?: StoredDoc & { _revisions?: { start: number; ids: string[] } } }[];
  try {
    read = (await db.get(id, { open_revs: [...purges, ...live].map((l) => l._rev!), revs: true })) as unknown as typeof read;
  } catch {
    return later;
  }
  const history = new Map(read.flatMap((r) => (r.ok?._rev && r.ok._revisions ? [[r.ok._rev, r.ok._revisions] as const] : [])));
  /** Whether the revision at generation `gen` with hash `hash` is in the history of `rev`. */
  const has = (rev: string, gen: number, hash: string) => {
    const h = history.get(rev);
    return !!h && gen <= h.start && h.ids[h.start - gen] === hash;
  };
  const overwritten = new Set(
    purges.flatMap((p) => {
      const h = history.get(p._rev!);
      const parent = h?.ids[1];
      return h && parent !== undefined && live.some((l) => has(l._rev!, h.start - 1, parent)) ? [p] : [];
    }),
  );
  return later.filter((l) => !overwritten.has(l));
}

async function resolveOnce(
  db: Db,
  id: string,
  resolver: ConflictResolver | undefined,
  emit: (event: ConflictEvent) => void,
  valueOf: (doc: StoredDoc) => Promise<unknown>,
  chunk: (id: string, op: WriteOp) => Promise<string[] | undefined>,
  closed: AbortSignal | undefined,
  elsewhere: (() => Promise<void>) | undefined,
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
  const every = found.flatMap((l) => (l.ok?._rev ? [l.ok] : []));
  // CouchDB's winner, and the other live leaves (what `_conflicts` lists).
  const leader = every.filter((l) => !l._deleted).sort(byRev);
  if (leader.length === 0) return false;
  // A leaf held without its value (too deep for this replica: codec.ts `isUnheld`) is never a side here — its value
  // would read as absent and a resolution could delete it: resolved where its value is (`elsewhere`, the server), or
  // left as it is.
  if (leader.length > 1 && leader.some(isUnheld)) {
    await elsewhere?.();
    return false;
  }
  // A leaf another leaf descends from, although the kept history (stemmed to `_revs_limit`) no longer says so, is no
  // side of a conflict: deleted with the losers, the resolver not asked, no event (lineage.ts).
  const stale = leader.length > 1 || every.length > 1 ? supersededRevs(every) : new Set<string>();
  const live = leader.filter((l) => !stale.has(l._rev!));
  const doc = live[0];
  const losers = leader.filter((l) => l !== doc).map((l) => l._rev!);
  const leaves: StoredDoc[] = live.slice(1);
  // A live leaf beats a deleted one in CouchDB whatever their times; a removal written later than every live leaf
  // (another device deleted the key while this one wrote it) takes part too. Only the newest few such removals are
  // looked at — chosen among the later ones, not among every tombstone: each resolved conflict leaves one (a losing
  // leaf's deletion, time 0) at a higher generation than an offline device's removal made after all of them.
  const liveAt = Math.max(...live.map((l) => decode(l).updatedAt));
  const later = await withoutOverwrittenPurges(
    db,
    id,
    every.filter((l) => l._deleted && !stale.has(l._rev!) && decode(l).updatedAt > liveAt),
    live,
  );
  leaves.push(...later.sort(byRev).slice(0, MAX_DELETED_LEAVES));
  // Only superseded leaves next to the one kept (or every live leaf superseded by a removal): deleted, nothing asked.
  if (!doc || leaves.length === 0) return losers.length === 0 ? false : writeResolution(db, id, leader, losers, []);
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
    // The same value on both sides (a merge another device wrote too) is not a conflict: the resolver is not asked.
    if (other.deleted === current.deleted && (current.deleted || sameJson(other.value, current.value))) continue;
    // Bounded (RESOLVER_TIMEOUT_MS) and ended by `closed`: one that never settles leaves the leaves as they are.
    const value = await askResolver(resolve, { key: id, local: current, remote: other }, closed, 'the conflict stays until it succeeds', true);
    emit({ key: id, local: current, remote: other, resolved: value, source: 'replication' });
    current = { value, deleted: value === undefined, updatedAt, rev: current.rev };
  }
  // (The winner holding the kept value keeps it only with the expiry that value keeps — the newest side's holding it:
  // a device's later write of the same value without a ttl lost to an older leaf with one by CouchDB's revision order,
  // and the value expired on every device.)
  const keepsWinner = current.deleted ? winner.deleted : !winner.deleted && sameJson(current.value, winner.value) && keptExpiry(current.value, sides) === winner.expiresAt;
  const docs: StoredDoc[] = [];
  if (!keepsWinner && !current.deleted) {
    // A value the SDK does not write (another app's, nested deeper than a value may be) is kept as the leaf it is: the
    // other live leaves are deleted, nothing is written on top. Any other value that cannot be stored is the resolver's
    // failure (`conflict`), as askResolver says for a value it returned.
    // (Only a side's own value can be one: askResolver returns a checked copy of any other.)
    const invalid = sides.some((s) => s.value === current.value) ? refusal(current.value, id) : undefined;
    if (invalid) {
      // The newest leaf holding it, as keptExpiry picks the expiry of a value several leaves hold.
      let i = -1;
      sides.forEach((s, j) => {
        if (!s.deleted && sameJson(s.value, current.value) && (i < 0 || s.updatedAt > sides[i]!.updatedAt)) i = j;
      });
      const kept = i >= 0 ? all[i] : undefined;
      if (kept && !kept._deleted) return writeResolution(db, id, leader, leader.filter((l) => l !== kept).map((l) => l._rev!), []);
      throw new FeatConflictError('conflict', `The conflict resolver returned a value for "${id}" that cannot be stored (${invalid.message}); the conflict stays until it succeeds`, { key: id, cause: invalid });
    }
  }
  if (!keepsWinner) {
    // The kept value keeps its expiry (a value written with `ttl` that wins still expires).
    const expiresAt = current.deleted ? undefined : keptExpiry(current.value, sides);
    const feat = expiresAt === undefined ? { updatedAt } : { updatedAt, expiresAt };
    // A big value is never written inline: a kept leaf's manifest is reused, a merge is chunked like any write.
    const chunks = current.deleted
      ? undefined
      : (keptLeafChunks(current.value, sides, all) ?? (await chunk(id, { deleted: false, value: current.value, at: updatedAt, seq: 0 })));
    docs.push(
      await child(
        doc._rev!,
        current.deleted ? { _id: id, _deleted: true, feat: { updatedAt } } : chunks ? { _id: id, feat: { ...feat, chunks } } : { _id: id, doc: current.value, feat },
      ),
    );
  }
  return writeResolution(db, id, leader, losers, docs);
}

/**
 * Writes a resolution: `docs` (the result on top of the kept leaf) and the deletions of the `losers`, unless the live
 * leaves (`leader`, CouchDB's winner first) changed since they were read (then {@link CHANGED}).
 */
async function writeResolution(db: Db, id: string, leader: StoredDoc[], losers: string[], docs: StoredDoc[]): Promise<boolean | typeof CHANGED> {
  for (const rev of losers) docs.push(await child(rev, { _id: id, _deleted: true }));
  if (docs.length === 0) return false;
  // The leaves are still those resolved (a write or a pull that moved the winner meanwhile is resolved again, rather
  // than branched next to); then the result and the deletions in one request, so that no one sees one without the
  // other. With `new_edits: false` nothing is refused: a device that wrote the same revisions already is no conflict.
  let now: StoredDoc;
  try {
    now = await db.get(id, { conflicts: true });
  } catch (error) {
    if ((error as { status?: number }).status === 404) return CHANGED;
    throw toFeatError(error, { key: id });
  }
  const conflicts = leader.slice(1).map((l) => l._rev!);
  if (now._rev !== leader[0]!._rev || String(now._conflicts?.slice().sort() ?? []) !== String(conflicts.sort())) return CHANGED;
  // Hundreds of losers (another writer's branches): in bounded slices (slices.ts), the result with the first — it wins
  // from then on; a resolution cut short after it deletes the rest with the very same revisions.
  for (const slice of slicesPerId(docs)) {
    const failed = (await db.bulkDocs(slice, { new_edits: false })).find((r) => r.error);
    if (failed) throw toFeatError(failed, { key: id });
  }
  return true;
}

/**
 * A child revision of `parent` holding `body`, its id derived from both (the same on every device, whatever writes
 * it: PouchDB here, CouchDB in remote mode), with the history `new_edits: false` needs.
 */
async function child(parent: string, body: StoredDoc): Promise<StoredDoc> {
  const gen = Number.parseInt(parent, 10) + 1;
  const revId = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(JSON.stringify([parent, body]))))).slice(0, 32);
  return { ...body, _rev: `${gen}-${revId}`, _revisions: { start: gen, ids: [revId, parent.slice(parent.indexOf('-') + 1)] } } as StoredDoc;
}

/** Why `value` cannot be written as a value (validate.ts), or undefined. */
function refusal(value: unknown, key: string): Error | undefined {
  try {
    snapshotValue(value, key);
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** When the kept value is a chunked leaf's value, its manifest's chunks (so a big value is never written inline). */
function keptLeafChunks(value: unknown, sides: ConflictSide[], docs: StoredDoc[]): string[] | undefined {
  const i = sides.findIndex((s) => !s.deleted && sameJson(s.value, value));
  return i >= 0 ? docs[i]?.feat?.chunks : undefined;
}
