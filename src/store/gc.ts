import { FeatError, toFeatError, type FeatErrorCode } from '../errors.js';
import { sleep } from '../util/abort.js';
import { retried } from './chunks.js';
import { CHUNK_PREFIX, HIGH, isChunkId, type StoredDoc } from './codec.js';
import { rangesFrom } from './ranges.js';
import type { BulkResult, Db } from './db.js';
import { monotonicNow } from '../util/clock.js';

const MARK = '_local/feat-gc';

const rowsOf = (db: Db) => async (options: Record<string, unknown>) => {
  try {
    return (await db.allDocs(options)).rows;
  } catch (error) {
    throw toFeatError(error);
  }
};

/**
 * A conflicting leaf, or `undefined` when it is gone (resolved meanwhile: 404). Any other failure fails the collection:
 * a leaf that could not be read may refer to chunks (counted as referring to none, its value was deleted).
 */
async function leafOf(db: Db, id: string, rev: string): Promise<StoredDoc | undefined> {
  try {
    return await db.get(id, { rev });
  } catch (error) {
    if ((error as { status?: unknown } | null)?.status === 404) return undefined;
    throw toFeatError(error, { key: id });
  }
}

/** Chunk ids, each with a key whose manifest refers to it. */
type Users = Map<string, string>;

/**
 * The chunk ids that a manifest refers to, in a winning revision or a conflicting leaf — leaving out the leaves
 * `replaced(id, rev)` says are about to be replaced.
 */
async function referencedChunks(db: Db, replaced?: (id: string, rev: string) => boolean): Promise<Users> {
  const all = rowsOf(db);
  const referenced: Users = new Map();
  // Every manifest: the ids before the chunk range and after it, to the end of either id order (see rangesFrom).
  for (const range of [{ endkey: CHUNK_PREFIX }, ...rangesFrom(CHUNK_PREFIX + HIGH)]) {
    for (const row of await all({ ...range, include_docs: true, conflicts: true })) {
      const doc = row.doc;
      if (!doc || isChunkId(row.id)) continue;
      if (!(doc._rev && replaced?.(row.id, doc._rev))) for (const id of doc.feat?.chunks ?? []) referenced.set(id, row.id);
      for (const rev of doc._conflicts ?? []) {
        if (replaced?.(row.id, rev)) continue;
        const leaf = await leafOf(db, row.id, rev);
        for (const id of leaf?.feat?.chunks ?? []) referenced.set(id, row.id);
      }
    }
  }
  return referenced;
}

/** A pulled revision, with its history. */
type Pulled = StoredDoc & { _revisions?: { start: number; ids: string[] } };

/** `rev` is in `doc`'s history: writing `doc` replaces that leaf. */
function extends_(doc: Pulled, rev: string): boolean {
  const dash = rev.indexOf('-');
  const i = (doc._revisions?.start ?? 0) - Number(rev.slice(0, dash));
  return i >= 0 && doc._revisions?.ids[i] === rev.slice(dash + 1);
}

/**
 * The pull is about to write `incoming`, among them deletions of the chunks `ids` (another device's garbage collection,
 * which knows only the manifests it has: not those of a device that was offline and reused chunks its replica still
 * had). The chunks a manifest here still refers to once `incoming` is written are written again first, as a new
 * revision of the live chunk: the pulled deletion then lands beside it as a losing leaf, and the push sends the chunk
 * to the server, where it wins over the deletion too. Written before the batch, so that a failure here fails the pull
 * pass before anything of it is written, and the pass is tried again whole (written after, a failure left the chunks
 * deleted for good: the retried pass saw the deletions as already here).
 */
export async function keepReferenced(db: Db, ids: string[], incoming: Pulled[]): Promise<void> {
  const pulled = new Map<string, Pulled[]>();
  for (const doc of incoming) pulled.set(doc._id, [...(pulled.get(doc._id) ?? []), doc]);
  const referenced = await referencedChunks(db, (id, rev) => pulled.get(id)?.some((doc) => extends_(doc, rev)) === true);
  for (const doc of incoming) if (!doc._deleted) for (const id of doc.feat?.chunks ?? []) referenced.set(id, doc._id);
  const wanted = ids.filter((id) => referenced.has(id));
  if (wanted.length === 0) return;
  // Only the content of chunks a manifest refers to is read (a collection deletes unreferenced ones: reading every
  // deleted chunk's megabyte first held up to a batch of them in memory for nothing).
  const again = (await db.allDocs({ keys: wanted, include_docs: true })).rows.flatMap((row) => {
    const data = (row.doc as { data?: unknown } | null | undefined)?.data;
    return typeof data === 'string' && row.value?.rev && !row.value.deleted ? [{ _id: row.key, _rev: row.value.rev, data }] : [];
  });
  if (again.length === 0) return;
  const failed = (await db.bulkDocs(again as unknown as StoredDoc[])).find((r) => r.error && r.status !== 409);
  if (failed) throw toFeatError(failed);
}

/** The server's database, and the sequence up to which the scanned database holds every change the server has. */
export interface GcServer {
  db: Db;
  since: string | number;
}

/** Server changes looked at before deleting (more: this run deletes nothing, the next one looks again). */
const CHANGES_LOOKED_AT = 1_000;

type ChangesAnswer = { results?: { id: string; doc?: StoredDoc | null }[]; last_seq?: string | number };

/** Up to {@link CHANGES_LOOKED_AT} changes on the server after `since`, with their documents and conflicting leaves. */
async function changesAfter(db: Db, since: string | number): Promise<ChangesAnswer> {
  try {
    return (await db.changes({ since, include_docs: true, conflicts: true, style: 'all_docs', limit: CHANGES_LOOKED_AT })) as ChangesAnswer;
  } catch (error) {
    throw toFeatError(error);
  }
}

/** The chunk ids the manifests among `results` refer to, in a winning revision or a conflicting leaf. */
async function chunksIn(db: Db, results: NonNullable<ChangesAnswer['results']>): Promise<Users> {
  const chunks: Users = new Map();
  for (const { id, doc } of results) {
    if (!doc || isChunkId(id)) continue;
    for (const chunk of doc.feat?.chunks ?? []) chunks.set(chunk, id);
    for (const rev of doc._conflicts ?? []) {
      const leaf = await leafOf(db, id, rev);
      for (const chunk of leaf?.feat?.chunks ?? []) chunks.set(chunk, id);
    }
  }
  return chunks;
}

/**
 * The chunks of `doomed` that a change on the server after `server.since` refers to (a manifest written meanwhile,
 * by another device or another app's client, in its winning revision or a conflicting leaf); every one of them when
 * there are too many changes to look at. `seq`: where the changes looked at end.
 */
async function spared(server: GcServer, doomed: Set<string>): Promise<{ spare: { has(id: string): boolean }; seq: string | number }> {
  const answer = await changesAfter(server.db, server.since);
  const results = answer.results ?? [];
  if (results.length >= CHANGES_LOOKED_AT) return { spare: doomed, seq: server.since };
  // (A chunk written again meanwhile needs no look: its deletion, at the revision scanned, meets a conflict.)
  return { spare: await chunksIn(server.db, results), seq: answer.last_seq ?? server.since };
}

/**
 * The content of a chunk at the revision deleted, while the database still keeps it (until it is compacted); without
 * `rev`, of the live chunk (written again meanwhile).
 */
async function contentOf(db: Db, id: string, rev?: string): Promise<string | undefined> {
  try {
    const data = ((await db.get(id, rev ? { rev } : {})) as { data?: unknown }).data;
    return typeof data === 'string' ? data : undefined;
  } catch (error) {
    if ((error as { status?: unknown } | null)?.status === 404) return undefined;
    throw toFeatError(error, { key: id });
  }
}

/**
 * Deleted chunks being written back: those written back (`restored`); those that could not be (`owed`, each with the
 * revision deleted, kept in the collection's mark and tried again at the start of every later run) and why (`error`);
 * those whose content is gone (`lost`); `users`: a key that refers to each.
 */
interface Back {
  restored: Set<string>;
  owed: Record<string, string>;
  lost: StoredDoc[];
  error?: unknown;
  users: Users;
}

/**
 * Writes back the deleted chunks `wanted` (each with the revision deleted), whose content is read from that revision
 * (on the server, else in the replica), else from the live chunk (written again meanwhile); each request tried again
 * twice. What could not be written is owed.
 */
async function writeBack(db: Db, server: GcServer, wanted: StoredDoc[], back: Back, signal: AbortSignal | undefined): Promise<void> {
  try {
    const again: StoredDoc[] = [];
    for (const d of wanted) {
      const read = (from: Db, rev?: string) => retried(() => contentOf(from, d._id, rev), signal);
      const data = (await read(server.db, d._rev)) ?? (db !== server.db ? await read(db, d._rev) : undefined) ?? (await read(server.db));
      if (data === undefined) back.lost.push(d);
      // Without a revision: CouchDB re-creates a document on top of its deletion (it refuses a write naming the
      // deletion's revision); 409: written again meanwhile (by its writer's check).
      else again.push({ _id: d._id, data } as unknown as StoredDoc);
    }
    if (again.length > 0) {
      await retried(async () => {
        for (const r of await server.db.bulkDocs(again)) if (r.error && r.status !== 409 && r.name !== 'conflict') throw toFeatError(r);
      }, signal);
    }
    for (const d of again) back.restored.add(d._id);
  } catch (error) {
    back.error ??= error;
    for (const d of wanted) if (!back.restored.has(d._id)) back.owed[d._id] = d._rev!;
  }
}

/**
 * After the deletion of `deleted` (at their scanned revisions): the chunks a manifest written on the server after `seq`
 * refers to are written again. Such a manifest is a remote-mode write that found the chunks present
 * (and so did not send them) before the deletion, and whose manifest landed after this run's look at the changes
 * (`spared`). Its writer checks its chunks again once the manifest is stored (chunks.ts `keepChunks`), but that check
 * may come before this deletion lands: then only this look, made after the deletion was answered, sees the manifest.
 * Between the two, no window is left: a manifest stored before this look began is seen here; one stored after it was
 * stored after the deletion, so its writer's check, which follows it, finds the chunk deleted and writes it again.
 *
 * The content is the deleted revision's, which CouchDB (and the replica, in local-first mode, until the run's
 * compaction) keeps until it compacts the database; read only for chunks a manifest refers to, which is rare (a
 * collection reads no chunk's content otherwise). Too many changes to look at: every manifest on the server is read.
 * The changes that cannot be read (tried three times): every deleted chunk is owed (the next run's scan tells which a
 * manifest refers to).
 */
async function restoreReferenced(db: Db, server: GcServer, deleted: StoredDoc[], seq: string | number, back: Back, signal: AbortSignal | undefined): Promise<void> {
  let referenced: Users;
  try {
    referenced = await retried(async () => {
      const results = (await changesAfter(server.db, seq)).results ?? [];
      return results.length >= CHANGES_LOOKED_AT ? referencedChunks(server.db) : chunksIn(server.db, results);
    }, signal);
  } catch (error) {
    back.error ??= error;
    for (const d of deleted) back.owed[d._id] = d._rev!;
    return;
  }
  referenced.forEach((key, id) => back.users.set(id, key));
  await writeBack(db, server, deleted.filter((d) => referenced.has(d._id)), back, signal);
}

/** A failure about the deleted chunks `ids`, naming the keys that use them (those known). */
function chunksError(code: FeatErrorCode, ids: string[], users: Users, what: string, cause?: unknown): FeatError {
  const keys = [...new Set(ids.flatMap((id) => users.get(id) ?? []))];
  const used = keys.slice(0, 5).map((k) => `"${k}"`).join(', ') || 'a value written during the run';
  return new FeatError(code, `${ids.length} chunk(s) this collection deleted, used by ${used}, ${what}`, { cause, ...(keys[0] ? { key: keys[0] } : {}) });
}

const PULLED_WAIT_MS = 5_000;

/** Waits (up to PULLED_WAIT_MS) until the replica holds the deletions of `ids`, brought by the pull. */
async function pulled(db: Db, ids: string[]): Promise<void> {
  for (const deadline = monotonicNow() + PULLED_WAIT_MS; monotonicNow() < deadline; ) {
    const rows = await rowsOf(db)({ keys: ids }).catch(() => []);
    if (rows.every((row) => row.value?.deleted === true || row.error !== undefined)) return;
    await sleep(100);
  }
}

/**
 * Deletes chunk documents that no value (winning or conflicting revision) refers to, once they have been found
 * unreferenced for at least `graceMs` (remembered in a `_local` document, which never replicates).
 *
 * `db` is scanned; the deletions go to `server` — the same database in remote mode, the server's in local-first mode,
 * where they come back by pull — and only once `server.since` is known: a local replica that is offline or behind
 * (a pull cut short) lacks manifests other devices wrote, and its deletions, pushed later, won over chunks those
 * values use. Chunks a change on the server since then refers to are spared, and a deletion meets a conflict when the
 * chunk was written again meanwhile; once deleted, those a manifest written during the deletion refers to are written
 * again (restoreReferenced). Without `server` (offline) nothing is deleted, and the next run looks again.
 */
export async function collectChunks(db: Db, graceMs: number, server: GcServer | undefined, signal?: AbortSignal): Promise<{ deletedIds: string[]; kept: number }> {
  const chunkRows = await rowsOf(db)({ startkey: CHUNK_PREFIX, endkey: CHUNK_PREFIX + HIGH });
  const marked = (await db.get(MARK).catch(() => undefined)) as (StoredDoc & { since?: Record<string, number>; retry?: boolean; unrestored?: Record<string, string> }) | undefined;
  if (!server) {
    // Not now: the next run looks again, even when nothing else changed by then (maintenance's `gcPending`).
    if (chunkRows.length > 0 && !marked?.retry) await db.put({ ...(marked ?? { _id: MARK }), retry: true } as StoredDoc).catch(() => undefined);
    return { deletedIds: [], kept: chunkRows.length };
  }
  const referenced = await referencedChunks(db);
  const back: Back = { restored: new Set(), owed: {}, lost: [], users: referenced };
  // Chunks an earlier run deleted and could not write back: written back first, those a manifest still refers to.
  const owed = Object.entries(marked?.unrestored ?? {}).flatMap(([_id, _rev]) => (referenced.has(_id) ? [{ _id, _rev }] : []));
  if (owed.length > 0) await writeBack(db, server, owed, back, signal);
  const now = Date.now();
  const since: Record<string, number> = {};
  const doomed: StoredDoc[] = [];
  for (const row of chunkRows) {
    if (referenced.has(row.id)) continue;
    const first = marked?.since?.[row.id] ?? now;
    if (now - first >= graceMs) doomed.push({ _id: row.id, _rev: row.value.rev, _deleted: true });
    else since[row.id] = first;
  }
  let deletedIds: string[] = [];
  let failure: unknown;
  if (doomed.length > 0) {
    const { spare, seq } = await spared(server, new Set(doomed.map((d) => d._id)));
    const going = doomed.filter((d) => !spare.has(d._id));
    let results: BulkResult[] | undefined;
    try {
      results = going.length > 0 ? await server.db.bulkDocs(going) : [];
    } catch (error) {
      failure = error;
    }
    // (Its answer lost: each of them may be deleted.)
    const gone = results ? going.filter((_, i) => results[i] && !results[i]!.error && typeof results[i]!.rev === 'string') : going;
    // A manifest written since the look at the changes may refer to some of them: written again (see restoreReferenced).
    if (gone.length > 0) await restoreReferenced(db, server, gone, seq, back, signal);
    deletedIds = results ? gone.map((d) => d._id).filter((id) => !back.restored.has(id)) : [];
    // Not deleted (spared; a conflict: written again meanwhile; not on the server yet; restored): looked at again next time.
    const deleted = new Set(deletedIds);
    for (const d of doomed) if (!deleted.has(d._id)) since[d._id] = marked?.since?.[d._id] ?? now;
    // A replica gets the deletions by pull (bounded wait, so that the run's compaction and the next scan see them). Not
    // written here: a value written again meanwhile that uses one of them is then seen by the pull, which writes the
    // chunk again (keepReferenced) — a deletion copied here would have passed it by.
    if (server.db !== db && deletedIds.length > 0) await pulled(db, deletedIds);
  }
  // Owing some, the lost ones are reported (as lost) by a later run.
  const owing = Object.keys(back.owed).length > 0;
  if (owing) for (const d of back.lost) back.owed[d._id] = d._rev!;
  const mark = { _id: MARK, ...(marked?._rev ? { _rev: marked._rev } : {}), since, ...(owing ? { unrestored: back.owed, retry: true } : {}) };
  const noted = await retried(() => db.put(mark as StoredDoc), signal).then(
    () => true,
    () => false,
  );
  if (owing) {
    const cause = toFeatError(back.error);
    const next = noted ? 'the next maintenance run tries again' : 'write those values again';
    throw chunksError(cause.code, Object.keys(back.owed), back.users, `could not be written back (${cause.message}): ${next}`, cause);
  }
  if (failure) throw toFeatError(failure);
  const lost = back.lost.map((d) => d._id);
  if (lost.length > 0) throw chunksError('not_found', lost, back.users, 'are no longer on the server (compacted): write those values again');
  return { deletedIds, kept: chunkRows.length - deletedIds.length };
}
