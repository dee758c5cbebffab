/**
 * Purge of expired values. Expiry is a property of the stored document (`feat.expiresAt`), so every device — and the
 * server — reads an expired value as `undefined` at once; the purge only reclaims the space, by deleting the document.
 *
 * Incremental: the database's changes feed since the last run (ids only) says which documents changed; only those are
 * read, and the ones that carry an expiry are remembered (id → expiry and revision) in `_local/feat-maintenance`, a
 * document that never replicates. Each run then deletes the remembered documents whose time has come, each at the
 * exact revision that was read: a document changed since (written again, maybe without a ttl) is left alone (409) and
 * looked at again in the next run.
 *
 * The deletion keeps the expired document's `updatedAt` and `expiresAt`, so to a conflict resolver it is the same as
 * the expired value it replaces: a write made after that value (on any device) still wins over the purge.
 */
import { toFeatError } from '../errors.js';
import type { StoredDoc } from '../store/codec.js';
import type { Db } from '../store/db.js';
import { throwIfAborted } from '../util/abort.js';
import { allDocs, isInternalId } from '../export/pages.js';

export const STATE_ID = '_local/feat-maintenance';
const CHANGES_PAGE = 500;
const DOCS_PAGE = 100;
const DELETE_PAGE = 200;

interface State {
  _id: string;
  _rev?: string;
  /** The changes-feed position up to which documents were looked at. */
  since?: number | string;
  /** Documents that carry an expiry: id → [expiresAt, rev, updatedAt]. */
  expiring?: Record<string, [number, string, number]>;
}

export interface PurgeResult {
  purged: number;
  /** Changes since the last run (0: nothing happened, so no chunk can have been orphaned either). */
  changed: number;
}

export interface PurgeDeps {
  signal: AbortSignal | undefined;
  /** The store must forget the revision of a purged document. */
  forget(id: string): void;
  wrote(id: string, rev: string, deleted?: boolean): void;
}

/** The most a purge waits after a value expired (see purgeExpired): clock skew between devices it absorbs. */
export const PURGE_GRACE_MS = 10 * 60_000;

export async function purgeExpired(db: Db, deps: PurgeDeps): Promise<PurgeResult> {
  const { signal } = deps;
  const state = ((await db.get(STATE_ID).catch(() => undefined)) as State | undefined) ?? { _id: STATE_ID };
  const expiring = new Map(Object.entries(state.expiring ?? {}));
  let since = state.since ?? 0;
  let changed = 0;

  // 1. What changed since the last run.
  for (;;) {
    throwIfAborted(signal);
    let feed: { results: { id: string; deleted?: boolean }[]; last_seq: number | string };
    try {
      feed = (await db.changes({ since, limit: CHANGES_PAGE })) as typeof feed;
    } catch (error) {
      throw toFeatError(error);
    }
    const ids: string[] = [];
    for (const change of feed.results) {
      if (isInternalId(change.id)) continue;
      if (change.deleted) expiring.delete(change.id);
      else ids.push(change.id);
    }
    changed += feed.results.length;
    // Their current documents: remember the ones with an expiry.
    for (let i = 0; i < ids.length; i += DOCS_PAGE) {
      throwIfAborted(signal);
      const keys = ids.slice(i, i + DOCS_PAGE);
      const rows = (await allDocs(db, { keys, include_docs: true })).rows;
      rows.forEach((row, j) => {
        const id = keys[j]!;
        const doc = row.value?.deleted ? undefined : row.doc;
        const expiresAt = doc?.feat?.expiresAt;
        if (doc?._rev && typeof expiresAt === 'number') expiring.set(id, [expiresAt, doc._rev, doc.feat?.updatedAt ?? 0]);
        else expiring.delete(id);
      });
    }
    since = feed.last_seq;
    if (feed.results.length < CHANGES_PAGE) break;
  }

  // 2. Delete the expired ones, each at the revision that was read (the tombstone keeps that revision's times).
  // Deleted only once expired for as long again as the value was to live (at most PURGE_GRACE_MS): expiry is read
  // against each device's clock, and a device whose clock runs ahead must not delete, for every device, a value the
  // others still read.
  const now = Date.now();
  const due = [...expiring].filter(([, [expiresAt, , updatedAt]]) => expiresAt + Math.min(PURGE_GRACE_MS, Math.max(0, expiresAt - updatedAt)) <= now);
  let purged = 0;
  for (let i = 0; i < due.length; i += DELETE_PAGE) {
    throwIfAborted(signal);
    const group = due.slice(i, i + DELETE_PAGE);
    const docs: StoredDoc[] = group.map(([id, [expiresAt, rev, updatedAt]]) => ({ _id: id, _rev: rev, _deleted: true, feat: { updatedAt, expiresAt } }));
    if (docs.length === 0) continue;
    let results;
    try {
      results = await db.bulkDocs(docs);
    } catch (error) {
      throw toFeatError(error);
    }
    results.forEach((r, j) => {
      const id = docs[j]!._id;
      // Purged, or changed since it was read (409): then the changes feed brings it to the next run.
      expiring.delete(id);
      if (r.ok !== false && !r.error && r.rev) {
        purged++;
        deps.forget(id);
        deps.wrote(id, r.rev, true);
      }
    });
  }

  // 3. Remember where this run got to (a failed save only means the next run looks at these changes again).
  const next: State = { _id: STATE_ID, since, expiring: Object.fromEntries(expiring) };
  if (state._rev) next._rev = state._rev;
  await db.put(next as StoredDoc).catch(() => undefined);
  return { purged, changed };
}
