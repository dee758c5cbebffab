import { FeatError, toFeatError } from '../errors.js';
import { keepChunks } from '../store/chunks.js';
import { isChunkId } from '../store/codec.js';
import type { Db } from '../store/db.js';
import { replicaVersion } from '../store/replica-version.js';
import { remember } from '../util/remember.js';

const MARKER = '_local/feat-push';
/**
 * Revisions asked about in one `_revs_diff` at most (a document's every leaf is asked about: one conflicted many
 * times holds many deleted ones), so that a request stays far below the proxy's 1 MiB body limit.
 */
const REVS_DIFF_BATCH = 500;
/**
 * Pulled revisions remembered: every leaf a pull brought counts as the server's (a document conflicted and resolved
 * many times holds a deleted leaf for each, each pulled once), up to this many in all (the least recently pulled
 * documents are forgotten first: only asked about again).
 */
const PULLED_KEPT = 100_000;
/** Of one document, at most (its deleted leaves from earlier resolutions, and its pulled winners). */
const PULLED_PER_DOC = 1_000;
/** A `_revs_diff` body's size at most (estimated: ids as UTF-8 at worst), far below the proxy's 1 MiB limit. */
const REVS_DIFF_BYTES = 256 * 1024;
/** Documents whose last write by this client is remembered until found on the server (the most recently written). */
const WRITTEN_KEPT = 10_000;

interface RemoteWithRevsDiff extends Db {
  revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing?: string[] }>>;
}

interface LocalChange {
  id: string;
  seq: number;
  /** The document's leaves this device may hold alone (not pulled, not given up): the winner and its conflicts. */
  revs: string[];
  /** `revs` as one string (what `#onServer` remembers). */
  key: string;
}

/**
 * Knows which local changes are on the server. `verifiedSeq` is the local sequence up to which every change is known
 * to be there (kept in a `_local` document, which never replicates); later changes are checked with `_revs_diff`,
 * so the answer does not depend on PouchDB's internal checkpoints. Revisions that arrived by pull never count.
 * Every leaf of a changed document is checked, not only its winner: a conflict resolution that keeps the pulled
 * winner writes only the deletion of the losing leaf, and that is a change the server does not have yet.
 *
 * A big value this device wrote, found on the server, counts only once its chunks are known to be there too (its
 * manifest is read from the replica, when its winner is one of the change's leaves): they are looked up on the server
 * and those deleted there written back from the replica (chunks.ts `keepChunks`, each step tried again twice); a value
 * whose look or write failed counts as missing, and verify rejects with that failure once it has saved what it
 * verified (the confirmation after a push tries again with backoff). Why: a write of content stored before (undo,
 * restore) finds the orphaned chunks in the replica; they have no local change, and the push sends only the manifest.
 * Another device's collection may have deleted them on the server, and while this device's pull fails nothing brings
 * that here for the pull's write-back (gc.ts `keepReferenced`): the server held a torn value while waitForPush(),
 * pending() and close() said it was there. Checked here rather than in the push (live-push.ts): this is what says a
 * change is on the server; it looks once the manifest is stored there (after it, the look closes the window with the
 * collector's own, as a remote write's does); and its verified sequence is kept in the replica — after a check that
 * failed, a restart, a follower tab or a new session still checks before the change counts, where the push skips a
 * manifest the server already holds. The cost: the documents newly found on the server (not the chunks) are read once
 * more from the replica, 20 at a time (an inline value up to ~1 MB each), and one look-up of ids is made per verify
 * that finds big values.
 */
export class PushTracker {
  #local: Db;
  /** The server's database, once connected. */
  remote: Db | undefined;
  #verifiedSeq = 0;
  /** The sequence the marker holds, as far as this tracker knows (what the other tabs read). */
  #savedSeq = 0;
  #loaded: Promise<void> | undefined;
  /** Revisions that came by pull, per document (a pull may bring several leaves of one document). */
  #pulled = new Map<string, string[]>();
  #pulledCount = 0;
  /**
   * Changes after `verifiedSeq` that the server was found to have (by id: the revision), while an earlier one is
   * missing there (a document the server refuses): not pending, and not asked about again.
   */
  #onServer = new Map<string, string>();
  /** Revisions that will not reach the server (given up): never waited for. */
  #given = new Map<string, string>();
  /**
   * Per document, the revision this client last wrote, until the server is found to have it (leading tab). What
   * waitForPush() waits for does not rest on the replica's changes feed alone: the leveldb and memory adapters read
   * the sequence index from a snapshot and the documents live, so a document written again while the feed is read is
   * left out of it; and a write landing after the call may carry the verified sequence past the call's own revision.
   */
  #written = new Map<string, string>();
  #verified: (() => void) | undefined;

  /** `verified` is called when more changes are known to be on the server. */
  constructor(local: Db, verified?: () => void) {
    this.#local = local;
    this.#verified = verified;
  }

  /** A revision this client wrote to the replica (the store's write, a resolution). */
  written(id: string, rev: string): void {
    remember(this.#written, id, rev, WRITTEN_KEPT);
  }

  /** A revision that came from the server. */
  pulled(id: string, rev: string): void {
    const had = this.#pulled.get(id) ?? [];
    if (had.includes(rev)) return;
    // (The oldest of one document's go first: a document pulled again and again remembers its recent revisions.)
    const revs = [...had, rev].slice(-PULLED_PER_DOC);
    remember(this.#pulled, id, revs, Infinity);
    for (this.#pulledCount += revs.length - had.length; this.#pulledCount > PULLED_KEPT; ) {
      const [oldest, dropped] = this.#pulled.entries().next().value!;
      this.#pulled.delete(oldest);
      this.#pulledCount -= dropped.length;
    }
  }

  async #load(): Promise<void> {
    this.#loaded ??= this.#local
      .get(MARKER)
      .then((doc) => {
        const seq = (doc as unknown as { seq?: unknown }).seq;
        if (typeof seq === 'number') {
          this.#verifiedSeq = Math.max(this.#verifiedSeq, seq);
          this.#savedSeq = Math.max(this.#savedSeq, seq);
        }
      })
      .catch(() => undefined);
    return this.#loaded;
  }

  async #unverified(): Promise<{ changes: LocalChange[]; lastSeq: number }> {
    await this.#load();
    const result = (await this.#local.changes({ since: this.#verifiedSeq, style: 'all_docs', return_docs: true })) as {
      results: { id: string; seq: number; changes: { rev: string }[] }[];
      last_seq: number;
    };
    const changes: LocalChange[] = [];
    for (const c of result.results) {
      if (c.id.startsWith('_local/')) continue;
      const pulled = this.#pulled.get(c.id);
      const revs = c.changes.flatMap(({ rev }) => (rev && !pulled?.includes(rev) && rev !== this.#given.get(c.id) ? [rev] : []));
      if (revs.length === 0) continue;
      changes.push({ id: c.id, seq: c.seq, revs, key: revs.join(',') });
    }
    return { changes, lastSeq: result.last_seq };
  }

  /**
   * The changes not known to be on the server now (waitForPush's call): each document's revisions. Every unverified
   * one, also one made just after the call's sequence was read (a write racing the call: the later revision carries the
   * earlier one's history, so waiting for it waits for both).
   */
  async pendingNow(): Promise<Map<string, string[]>> {
    // One read for the calls made at once (each changes feed of the replica listens to it: many at once made Node warn).
    this.#pendingRead ??= this.#unverified().finally(() => (this.#pendingRead = undefined));
    const { changes } = await this.#pendingRead;
    return this.writtenNow(new Map(changes.filter((c) => this.#onServer.get(c.id) !== c.key).map((c) => [c.id, c.revs])));
  }

  /**
   * `pending` with this client's own writes not yet found on the server added (see `#written`): those the changes feed
   * left out, and those whose change the verified sequence may pass without them (written on since). Only a write that
   * is still its document's current revision here: one another writer wrote on (a pull, a conflict's resolution,
   * another tab) is forgotten — that later change is the changes feed's to track, and the write may never be found on
   * the server by itself (a resolution that dropped its leaf, a history stemmed there). Only where the server can be
   * asked (once connected).
   */
  async writtenNow(pending = new Map<string, string[]>()): Promise<Map<string, string[]>> {
    if (!this.remote || this.#written.size === 0) return pending;
    const before = new Map(this.#written);
    const ids = [...before.keys()];
    const rows = (await this.#local.allDocs({ keys: ids })).rows as { value?: { rev?: string } }[];
    ids.forEach((id, i) => {
      const rev = before.get(id)!;
      if (rows[i]?.value?.rev !== rev) {
        // (Written again by this client meanwhile: that write is remembered instead; this one still counts.)
        if (this.#written.get(id) === rev) return void this.#written.delete(id);
        if (this.#written.get(id) === undefined) return;
      }
      const revs = pending.get(id);
      if (!revs) pending.set(id, [rev]);
      else if (!revs.includes(rev)) pending.set(id, [...revs, rev]);
    });
    return pending;
  }

  /** `id`'s revision `rev` is known to be on the server: this client's write of it is no longer waited for. */
  #arrived(id: string, revs: string[]): void {
    const rev = this.#written.get(id);
    if (rev !== undefined && revs.includes(rev)) this.#written.delete(id);
  }

  #pendingRead: Promise<{ changes: LocalChange[]; lastSeq: number }> | undefined;

  /**
   * How many of `pending` ({@link pendingNow} at the call, once the verified sequence passed the call's) the server may
   * still lack: a document whose current revision here is not one of those remembered changed again since — a
   * conflict's resolution (a merge, or the deletion of its leaf) or a later write — and the verified sequence passed it
   * without its remembered revisions; those are asked with `_revs_diff` (they reach the server with the later change's
   * history). Not taken from the changes feed: a document written while the feed is read may be left out of it. Those
   * found there are dropped from `pending` (not asked again).
   */
  async stillMissing(pending: Map<string, string[]>): Promise<number> {
    if (pending.size === 0) return 0;
    const ids = [...pending.keys()];
    const rows = (await this.#local.allDocs({ keys: ids })).rows as { value?: { rev?: string } }[];
    const moved: LocalChange[] = [];
    ids.forEach((id, i) => {
      const revs = pending.get(id)!;
      const rev = rows[i]?.value?.rev;
      // Its change is below the verified sequence, not written on since: on the server. (Not forgotten from `#written`:
      // a write made after the call's sequence was read is here too, and nothing asked the server about it.)
      if (rev !== undefined && revs.includes(rev)) pending.delete(id);
      else moved.push({ id, seq: 0, revs, key: revs.join(',') });
    });
    if (moved.length === 0) return 0;
    if (!this.remote) return moved.length;
    let lacking = 0;
    for (let i = 0; i < moved.length; ) {
      // (Bounded as verify's requests are: revisions and bytes.)
      const diff: Record<string, string[]> = {};
      for (let revs = 0, bytes = 0; i < moved.length; i++) {
        const c = moved[i]!;
        const size = 3 * c.id.length + c.key.length + 3 * c.revs.length + 8;
        if (revs > 0 && (revs + c.revs.length > REVS_DIFF_BATCH || bytes + size > REVS_DIFF_BYTES)) break;
        revs += c.revs.length;
        bytes += size;
        Object.defineProperty(diff, c.id, { value: c.revs, enumerable: true });
      }
      const missing = await (this.remote as RemoteWithRevsDiff).revsDiff(diff).catch((error: unknown) => Promise.reject(toFeatError(error)));
      for (const id of Object.keys(diff)) {
        if (Object.prototype.hasOwnProperty.call(missing, id) && (missing[id]?.missing?.length ?? 0) > 0) lacking++;
        else {
          this.#arrived(id, pending.get(id)!);
          pending.delete(id);
        }
      }
    }
    return lacking;
  }

  /** A revision that will not reach the server and is not to wait for (an index definition it refused: live-push.ts). */
  givenUp(id: string, rev: string): void {
    remember(this.#given, id, rev, 10_000);
  }

  /** Reads the verified sequence again: another tab's client (the leader, leader.ts) may have advanced it. */
  refresh(): Promise<void> {
    this.#loaded = undefined;
    return this.#load();
  }

  /** Local changes not yet known to be on the server (no network). */
  async count(): Promise<number> {
    return (await this.#unverified()).changes.filter((c) => this.#onServer.get(c.id) !== c.key).length;
  }

  /** The last verify's failure, until one succeeds (why changes stay pending: wait-for-push.ts says it). */
  failure: unknown;

  /** Asks the server which unverified changes it has; advances `verifiedSeq`. Returns how many are still missing. */
  async verify(): Promise<number> {
    try {
      const missing = await this.#verify();
      this.failure = undefined;
      return missing;
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  async #verify(): Promise<number> {
    const { changes: all, lastSeq } = await this.#unverified();
    const changes = all.filter((c) => this.#onServer.get(c.id) !== c.key);
    let firstMissingSeq = Infinity;
    let missingCount = 0;
    let failed: FeatError | undefined;
    const present = new Map<string, string>();
    for (let i = 0; i < changes.length; ) {
      const batch: LocalChange[] = [];
      for (let revs = 0, bytes = 0; i < changes.length; i++) {
        const c = changes[i]!;
        const size = 3 * c.id.length + c.key.length + 3 * c.revs.length + 8;
        if (batch.length > 0 && (revs + c.revs.length > REVS_DIFF_BATCH || bytes + size > REVS_DIFF_BYTES)) break;
        revs += c.revs.length;
        bytes += size;
        batch.push(c);
      }
      const diff: Record<string, string[]> = {};
      for (const c of batch) Object.defineProperty(diff, c.id, { value: c.revs, enumerable: true });
      let missing: Record<string, { missing?: string[] }>;
      try {
        if (!this.remote) throw new FeatError('network', 'Not connected to the server yet');
        missing = await (this.remote as RemoteWithRevsDiff).revsDiff(diff);
      } catch (error) {
        throw toFeatError(error);
      }
      const lacks = (c: LocalChange) => Object.prototype.hasOwnProperty.call(missing, c.id) && c.revs.some((rev) => missing[c.id]?.missing?.includes(rev));
      // The big values this device wrote among the changes the server has: their chunks too (see the class comment).
      const found = batch.filter((c) => !lacks(c) && !isChunkId(c.id));
      const values: { key: string; chunks: { _id: string }[] }[] = [];
      // (Read 20 at a time: an inline value may be near 1 MB, and only the manifests are wanted.)
      for (let j = 0; j < found.length; j += 20) {
        const some = found.slice(j, j + 20);
        for (const [k, { key, doc }] of (await this.#local.allDocs({ keys: some.map((c) => c.id), include_docs: true })).rows.entries()) {
          if (doc?.feat?.chunks && some[k]!.revs.includes(doc._rev!)) values.push({ key, chunks: doc.feat.chunks.map((_id) => ({ _id })) });
        }
      }
      const torn = values.length > 0 ? await keepChunks(this.remote, values, this.#local) : new Map<string, FeatError>();
      failed ??= torn.values().next().value;
      for (const c of batch) {
        if (lacks(c) || torn.has(c.id)) {
          missingCount++;
          firstMissingSeq = Math.min(firstMissingSeq, c.seq);
        } else {
          present.set(c.id, c.key);
          this.#arrived(c.id, c.revs);
        }
      }
    }
    const next = missingCount === 0 ? lastSeq : firstMissingSeq - 1;
    // Known on the server past the first missing change (by each document's latest revision); the rest forgotten.
    const onServer = new Map<string, string>();
    for (const c of all) {
      if (c.seq > next && (this.#onServer.get(c.id) === c.key || present.get(c.id) === c.key)) onServer.set(c.id, c.key);
    }
    this.#onServer = onServer;
    const advanced = next > this.#verifiedSeq;
    if (advanced) this.#verifiedSeq = next;
    // Saved first: another tab (leader.ts) reads it when told. A save that failed (the marker's read or write failed
    // three times) is made again by the next verify, even with nothing new: else the other tabs would count the
    // changes as pending until this device wrote again, while this one shows them confirmed.
    if (this.#verifiedSeq > this.#savedSeq) {
      const saved = await this.#save();
      if (advanced || saved) this.#verified?.();
    }
    // (After what was verified is saved: the caller's retry, e.g. the confirmation's backoff, looks again.)
    if (failed) throw failed;
    return missingCount;
  }

  /**
   * The local sequence now (for waitForPush): the replica's, which counts the writes of the other tabs and workers too
   * (`info().update_seq` of an `indexeddb` replica counts only this connection's: replica-version.ts). Asked through
   * the guarded replica first, so that one closed or deleted under the client fails as such.
   */
  async localSeq(): Promise<number> {
    const seq = Number((await this.#local.info()).update_seq) || 0;
    const { pouch } = this.#local as { pouch?: unknown };
    return (pouch === undefined ? undefined : await replicaVersion(pouch)) ?? seq;
  }

  /** Forgets what was verified (the server lost it: continuity.ts); the marker is deleted by the caller. */
  reset(): void {
    this.#verifiedSeq = 0;
    this.#savedSeq = 0;
    this.#onServer.clear();
    this.#loaded = Promise.resolve();
  }

  get verifiedSeq(): number {
    return this.#verifiedSeq;
  }

  /** Saves the verified sequence in the marker; false when it could not (tried three times). */
  async #save(): Promise<boolean> {
    const seq = this.#verifiedSeq;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const existing = await this.#local.get(MARKER).catch(() => undefined);
        await this.#local.put({ _id: MARKER, ...(existing?._rev ? { _rev: existing._rev } : {}), seq } as never);
        this.#savedSeq = Math.max(this.#savedSeq, seq);
        return true;
      } catch {
        // a concurrent save won; try again with its revision
      }
    }
    return false;
  }
}
