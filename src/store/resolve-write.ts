import { FeatConflictError, FeatError, toFeatError } from '../errors.js';
import { decode, encode, isExpired, isWriteOf, sameJson, type StoredDoc, type WriteOp } from './codec.js';
import { askResolver, keptExpiry, latestWriteWins, type Conflict, type ConflictSide } from './conflicts.js';
import type { StoreIO } from './io.js';
import type { AllDocsRow, BulkResult, Db } from './db.js';
import { parentOf, stamp, type Parent } from './lineage.js';
import { sleep } from '../util/abort.js';
import { hex } from '../util/hash.js';

/**
 * The current version of a document for conflict resolution, a deletion included (it has a time and a revision).
 * Its revision is recorded as not seen by the app (unless it was already).
 */
async function readLatest(io: StoreIO, db: Db, id: string): Promise<StoredDoc | undefined> {
  const raw = await io.read(db, id, Infinity);
  if (raw) return raw;
  const row = (await io.allDocs(db, { keys: [id] }, id)).rows[0];
  if (!row?.value?.deleted || row.error) return undefined;
  try {
    const tombstone = await db.get(id, { rev: row.value.rev });
    io.known().learn(id, row.value.rev, Infinity, undefined, true);
    return tombstone;
  } catch (error) {
    if ((error as { status?: number }).status === 404) return undefined;
    throw error;
  }
}

/** `raw` as the parent of a write (lineage.ts): this client's own revision, or one whose answer was lost. */
const parentHere = (io: StoreIO, id: string, raw: StoredDoc | undefined) => parentOf(raw, !!raw?._rev && (io.ctx.isOwn(id, raw._rev) || io.unanswered(id, raw)));

/** The resolved write is the app's own value (or deletion), not a merge. */
const isAppsOwn = (next: WriteOp, op: WriteOp): boolean => next.deleted === op.deleted && (op.deleted || sameJson(next.value, op.value));
/** The write `next` (made for the app's `op`, by its writer) going on top of `parent`: its run of edits continued or started (lineage.ts). */
function onTop(next: WriteOp, op: WriteOp, parent: Parent | undefined): WriteOp {
  next.by = op.by;
  stamp(next, parent);
  return next;
}

/** A resolved write made of the app's own value is seen by the app; a merge (or a kept deletion) is not. */
const seenOf = (next: WriteOp, op: WriteOp): number => (isAppsOwn(next, op) ? 0 : Infinity);

/**
 * Lets the resolver decide between this client's write and the version `raw` it did not see. Returns the outcome as
 * a write (the kept value or a deletion, stamped with the later of both times) and whether it is `raw`'s own content.
 */
async function decide(
  db: Db,
  id: string,
  op: WriteOp,
  raw: StoredDoc | undefined,
  io: StoreIO,
): Promise<{ next: WriteOp; keepsRemote: boolean }> {
  const decoded = raw ? decode(raw) : undefined;
  // A stamp ahead of this device's clock (another device's fast clock) is not held against a write made now, as on
  // the local replica (look-up.ts): the write goes on top as it is.
  // (Not a default, time 0: any version wins over it.)
  if (decoded && decoded.updatedAt > Date.now() && op.at !== 0) return { next: op, keepsRemote: false };
  const remoteDeleted = !decoded || decoded.deleted || isExpired(decoded);
  // A default (time 0: a redux slice's initial state, store.ts AS_OF) is written over a deletion: it is what the app's
  // state holds (a reload after a purge); any live version wins over it (the resolver below).
  if (op.at === 0 && !op.deleted && remoteDeleted) return { next: op, keepsRemote: false };
  const remote: ConflictSide = {
    value: remoteDeleted || !raw ? undefined : await io.valueOf(db, raw),
    deleted: remoteDeleted,
    updatedAt: decoded?.updatedAt ?? 0,
    rev: decoded?.rev,
  };
  const local: ConflictSide = { value: op.deleted ? undefined : op.value, deleted: op.deleted, updatedAt: op.at, rev: undefined };
  const conflict: Conflict = { key: id, local, remote };
  // Bounded (RESOLVER_TIMEOUT_MS) and ended by close(): a resolver that never settles does not hold the write.
  const resolved = await askResolver(io.ctx.onConflict ?? latestWriteWins, conflict, io.ctx.closed, 'nothing was written');
  io.ctx.emitConflict({ ...conflict, resolved, source: 'write' });
  const at = Math.max(op.at, remote.updatedAt);
  const next: WriteOp =
    resolved === undefined
      ? { deleted: true, value: undefined, at, seq: op.seq }
      : {
          deleted: false,
          value: resolved,
          at,
          seq: op.seq,
          // The app's own value keeps its `ttl`; a merge expires only if both sides would (see keptExpiry).
          expiresAt: keptExpiry(resolved, [{ ...local, expiresAt: op.expiresAt }, { ...remote, expiresAt: decoded?.expiresAt }]),
        };
  // The server's version as it is (nothing to write) only when its expiry is the kept one too: the same value without
  // the ttl (or with another) is written, or the key would expire (or outlive its ttl) unlike the write that won.
  const keepsRemote = resolved === undefined ? remote.deleted : !remote.deleted && sameJson(resolved, remote.value) && next.expiresAt === decoded?.expiresAt;
  return { next, keepsRemote };
}

/**
 * A write met a version it did not see (409, or a revision the app had not seen when it made the write): read that
 * version, let the resolver decide, write the result on top of it. A version this client wrote with the app's own
 * value is no conflict (its revision was only forgotten): the write goes on top — not a resolver's merge the app did
 * not see. Bounded retries while the document keeps changing, then `conflict`.
 */
export async function resolveWrite(db: Db, id: string, op: WriteOp, io: StoreIO): Promise<void> {
  for (let attempt = 0; attempt <= io.ctx.conflictRetries; attempt++) {
    // Lost a race: wait a random while (full jitter, growing per round) so that contenders fall out of step.
    await sleep(Math.random() * Math.min(1_000, 25 * 2 ** attempt));
    const known = io.known().get(id); // before the read records what it finds
    const raw = await readLatest(io, db, id);
    // This very write, stored: its answer was lost and the request went again (a connection reset after the server
    // took it: the transport resends once), which met it. Nothing to resolve — a resolver would merge it with itself.
    if (raw?._rev && isWriteOf(raw, op)) return io.stored(id, raw._rev, op);
    let next = op;
    const unseenMerge = known !== undefined && known.rev === raw?._rev && known.seen >= op.seq;
    if (op.deleted && raw?._deleted) {
      // Deleted on both sides: nothing to resolve, but the later deletion's time is kept (a tombstone on top), so that
      // a concurrent write made between the two does not win over it later.
      if (decode(raw).updatedAt >= op.at) return;
      if (!io.ctx.local) return extendTombstone(db, id, onTop(op, op, parentHere(io, id, raw)), raw._rev!, io);
    } else if (!raw?._rev || !(io.ctx.isOwn(id, raw._rev) || io.unanswered(id, raw)) || unseenMerge) {
      const decision = await decide(db, id, op, raw, io);
      if (decision.keepsRemote) return;
      next = decision.next;
    }
    try {
      onTop(next, op, parentHere(io, id, raw));
      const chunks = await io.chunkIfLarge(db, id, next);
      // On top of the current version, a deletion included (so that its history, and its time, is kept). CouchDB
      // refuses a write naming a deletion's revision (409, however often it is retried): a value goes without one
      // and CouchDB re-creates the document on top of the deletion. The local replica (PouchDB) takes either.
      const rev = raw?._deleted && !io.ctx.local ? undefined : raw?._rev;
      const r = await db.put(encode(id, next, rev, chunks));
      io.stored(id, r.rev, next, seenOf(next, op));
      return;
    } catch (error) {
      if ((error as { status?: number }).status !== 409) throw toFeatError(error, { key: id });
    }
  }
  throw new FeatConflictError(
    'conflict',
    `"${id}" kept changing on the server while its conflict was resolved (${io.ctx.conflictRetries + 1} attempts); try again`,
    { key: id },
  );
}

/** Documents read per `_all_docs` request when several writes are resolved together (their values come along). */
const READ_GROUP = 50;

/**
 * Several writes on the server that met versions they did not see (409s of one batch; e.g. `removeParts` over parts
 * this client never read), resolved together: one `_all_docs` read of their current versions per
 * {@link READ_GROUP} documents, the resolver for each (as {@link resolveWrite} does), one `_bulk_docs` of the
 * outcomes — instead of a read and a write per document. A document this cannot settle that way (deleted, with
 * conflicting leaves, gone, or changed again before the outcome landed) goes through {@link resolveWrite} on its
 * own, through `one` (the store's bound on resolutions at once). Returns, per item, its error or `undefined`.
 */
export async function resolveWrites(
  db: Db,
  items: { id: string; op: WriteOp }[],
  io: StoreIO,
  one: (work: () => Promise<void>) => Promise<void>,
): Promise<(unknown | undefined)[]> {
  const results: (unknown | undefined)[] = new Array(items.length).fill(undefined);
  const alone: number[] = [];
  for (let start = 0; start < items.length; start += READ_GROUP) {
    const group = items.slice(start, start + READ_GROUP).map((item, j) => ({ ...item, i: start + j }));
    let rows: AllDocsRow[];
    try {
      rows = (await io.allDocs(db, { keys: group.map((g) => g.id), include_docs: true, conflicts: true }, group[0]!.id)).rows;
    } catch (error) {
      for (const g of group) results[g.i] = toFeatError(error, { key: g.id });
      continue;
    }
    const writes: { i: number; id: string; op: WriteOp; next: WriteOp; doc: StoredDoc }[] = [];
    for (const [j, g] of group.entries()) {
      const row = rows[j];
      const raw = row?.id === g.id && !row.error && !row.value?.deleted ? row.doc : undefined;
      // Deleted, gone, or with leaves to resolve first: the read-and-write of resolveWrite, on its own.
      if (!raw?._rev || raw._conflicts?.length) {
        alone.push(g.i);
        continue;
      }
      // This very write, stored (see resolveWrite).
      if (isWriteOf(raw, g.op)) {
        io.stored(g.id, raw._rev, g.op);
        continue;
      }
      try {
        const known = io.known().get(g.id); // before the read is recorded
        io.known().learn(g.id, raw._rev, Infinity);
        let next = g.op;
        const unseenMerge = known !== undefined && known.rev === raw._rev && known.seen >= g.op.seq;
        if (!(io.ctx.isOwn(g.id, raw._rev) || io.unanswered(g.id, raw)) || unseenMerge) {
          const decision = await decide(db, g.id, g.op, raw, io);
          if (decision.keepsRemote) continue;
          next = decision.next;
        }
        onTop(next, g.op, parentHere(io, g.id, raw));
        writes.push({ i: g.i, id: g.id, op: g.op, next, doc: encode(g.id, next, raw._rev, await io.chunkIfLarge(db, g.id, next)) });
      } catch (error) {
        results[g.i] = toFeatError(error, { key: g.id });
      }
    }
    if (writes.length === 0) continue;
    let written: BulkResult[];
    try {
      written = await db.bulkDocs(writes.map((w) => w.doc));
    } catch (error) {
      for (const w of writes) results[w.i] = toFeatError(error, { key: w.id });
      continue;
    }
    writes.forEach((w, j) => {
      const r = written[j];
      if (r && !r.error && r.rev) io.stored(w.id, r.rev, w.next, seenOf(w.next, w.op));
      else if (r?.status === 409 || r?.name === 'conflict') alone.push(w.i);
      else results[w.i] = toFeatError(r ?? new FeatError('bad_response', 'The server returned no result for a document'), { key: w.id });
    });
  }
  await Promise.all(
    alone.map((i) =>
      one(() => resolveWrite(db, items[i]!.id, items[i]!.op, io)).catch((error: unknown) => {
        results[i] = toFeatError(error, { key: items[i]!.id });
      }),
    ),
  );
  return results;
}

/**
 * A later deletion of a key the server already has deleted: CouchDB refuses a tombstone on top of a tombstone in an
 * ordinary write (409), so this one is added as replication adds it (`new_edits: false`, a child revision of the
 * deletion): its time is kept, so a concurrent write made between the two deletions does not win over it later.
 */
async function extendTombstone(db: Db, id: string, op: WriteOp, parent: string, io: StoreIO): Promise<void> {
  const [start, parentId] = [Number.parseInt(parent, 10), parent.slice(parent.indexOf('-') + 1)];
  const childId = randomRevId();
  const rev = `${start + 1}-${childId}`;
  const doc = { ...encode(id, op, rev), _revisions: { start: start + 1, ids: [childId, parentId] } };
  const result = await db.bulkDocs([doc], { new_edits: false });
  const failed = result.find((r) => r.error);
  if (failed) throw toFeatError(failed, { key: id });
  io.stored(id, rev, op);
}

/** A revision id in CouchDB's shape (32 hex digits). */
function randomRevId(): string {
  return hex(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * A write sent without a revision landed on a deleted document (`rev` is not a first revision): CouchDB re-creates
 * a deleted document silently. When that deletion was made after the write (another client removed the key while
 * the write travelled), the write did not see it: the resolver decides, as for a 409. A deletion stamped ahead of
 * this device's clock is not held against the write (a clock set back; as for the replica's look-up), and one that
 * can no longer be read (compacted) leaves the write as it is. Limit: this runs after the write landed, so others
 * may see the re-created value for a moment, and if this check fails (network) the write rejects but stays.
 */
export async function checkRecreated(db: Db, id: string, op: WriteOp, rev: string, io: StoreIO): Promise<void> {
  if (op.deleted) return;
  try {
    const written = (await db.get(id, { rev, revs: true })) as StoredDoc & { _revisions?: { start: number; ids: string[] } };
    const history = written._revisions;
    const parentId = history?.ids[1];
    if (!history || parentId === undefined) return;
    const parentRev = `${history.start - 1}-${parentId}`;
    if (io.ctx.isOwn(id, parentRev)) return;
    const parent = await db.get(id, { rev: parentRev }).catch((error: { status?: number }) => {
      if (error.status === 404) return undefined;
      throw error;
    });
    const deletion = parent && decode(parent);
    if (!deletion?.deleted || deletion.updatedAt <= op.at || deletion.updatedAt > Date.now()) return;
    // Here "the remote version" is the deletion the write went over: keeping it means deleting again.
    const { next } = await decide(db, id, op, parent, io);
    if (isAppsOwn(next, op)) return;
    onTop(next, op, { rev, by: op.by, from: op.from, n: op.n, anc: op.anc, mine: true });
    try {
      const r = await db.put(encode(id, next, rev, await io.chunkIfLarge(db, id, next)));
      io.stored(id, r.rev, next, seenOf(next, op));
    } catch (error) {
      if ((error as { status?: number }).status !== 409) throw error;
      // Changed again meanwhile: this write meets the newer version as a plain conflict.
      await resolveWrite(db, id, op, io);
    }
  } catch (error) {
    throw toFeatError(error, { key: id });
  }
}
