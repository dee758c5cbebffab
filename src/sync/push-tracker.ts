import { FeatError, toFeatError } from '../errors.js';
import type { Db } from '../store/db.js';
import { replicaVersion } from '../store/replica-version.js';

const MARKER = '_local/feat-push';
const REVS_DIFF_BATCH = 200;

interface RemoteWithRevsDiff extends Db {
  revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing?: string[] }>>;
}

interface LocalChange {
  id: string;
  seq: number;
  rev: string;
}

/**
 * Knows which local changes are on the server. `verifiedSeq` is the local sequence up to which every change is known
 * to be there (kept in a `_local` document, which never replicates); later changes are checked with `_revs_diff`,
 * so the answer does not depend on PouchDB's internal checkpoints. Revisions that arrived by pull never count.
 */
export class PushTracker {
  #local: Db;
  /** The server's database, once connected. */
  remote: Db | undefined;
  #verifiedSeq = 0;
  #loaded: Promise<void> | undefined;
  #pulled = new Map<string, string>();
  /**
   * Changes after `verifiedSeq` that the server was found to have (by id: the revision), while an earlier one is
   * missing there (a document the server refuses): not pending, and not asked about again.
   */
  #onServer = new Map<string, string>();
  #verified: (() => void) | undefined;

  /** `verified` is called when more changes are known to be on the server. */
  constructor(local: Db, verified?: () => void) {
    this.#local = local;
    this.#verified = verified;
  }

  /** A revision that came from the server. */
  pulled(id: string, rev: string): void {
    this.#pulled.set(id, rev);
    if (this.#pulled.size > 50_000) this.#pulled.delete(this.#pulled.keys().next().value!);
  }

  async #load(): Promise<void> {
    this.#loaded ??= this.#local
      .get(MARKER)
      .then((doc) => {
        const seq = (doc as unknown as { seq?: unknown }).seq;
        if (typeof seq === 'number') this.#verifiedSeq = Math.max(this.#verifiedSeq, seq);
      })
      .catch(() => undefined);
    return this.#loaded;
  }

  async #unverified(): Promise<{ changes: LocalChange[]; lastSeq: number }> {
    await this.#load();
    const result = (await this.#local.changes({ since: this.#verifiedSeq, style: 'main_only', return_docs: true })) as {
      results: { id: string; seq: number; changes: { rev: string }[] }[];
      last_seq: number;
    };
    const changes: LocalChange[] = [];
    for (const c of result.results) {
      const rev = c.changes[0]?.rev;
      if (!rev || c.id.startsWith('_local/')) continue;
      if (this.#pulled.get(c.id) === rev) continue;
      changes.push({ id: c.id, seq: c.seq, rev });
    }
    return { changes, lastSeq: result.last_seq };
  }

  /** A revision that will not reach the server and is not to wait for (an index definition it refused: live-push.ts). */
  givenUp(id: string, rev: string): void {
    this.#onServer.set(id, rev);
  }

  /** Reads the verified sequence again: another tab's client (the leader, leader.ts) may have advanced it. */
  refresh(): Promise<void> {
    this.#loaded = undefined;
    return this.#load();
  }

  /** Local changes not yet known to be on the server (no network). */
  async count(): Promise<number> {
    return (await this.#unverified()).changes.filter((c) => this.#onServer.get(c.id) !== c.rev).length;
  }

  /** Asks the server which unverified changes it has; advances `verifiedSeq`. Returns how many are still missing. */
  async verify(): Promise<number> {
    const { changes: all, lastSeq } = await this.#unverified();
    const changes = all.filter((c) => this.#onServer.get(c.id) !== c.rev);
    let firstMissingSeq = Infinity;
    let missingCount = 0;
    const present = new Map<string, string>();
    for (let i = 0; i < changes.length; i += REVS_DIFF_BATCH) {
      const batch = changes.slice(i, i + REVS_DIFF_BATCH);
      const diff: Record<string, string[]> = {};
      for (const c of batch) Object.defineProperty(diff, c.id, { value: [c.rev], enumerable: true });
      let missing: Record<string, { missing?: string[] }>;
      try {
        if (!this.remote) throw new FeatError('network', 'Not connected to the server yet');
        missing = await (this.remote as RemoteWithRevsDiff).revsDiff(diff);
      } catch (error) {
        throw toFeatError(error);
      }
      for (const c of batch) {
        if (Object.prototype.hasOwnProperty.call(missing, c.id) && missing[c.id]?.missing?.includes(c.rev)) {
          missingCount++;
          firstMissingSeq = Math.min(firstMissingSeq, c.seq);
        } else present.set(c.id, c.rev);
      }
    }
    const next = missingCount === 0 ? lastSeq : firstMissingSeq - 1;
    // Known on the server past the first missing change (by each document's latest revision); the rest forgotten.
    const onServer = new Map<string, string>();
    for (const c of all) {
      if (c.seq > next && (this.#onServer.get(c.id) === c.rev || present.get(c.id) === c.rev)) onServer.set(c.id, c.rev);
    }
    this.#onServer = onServer;
    if (next > this.#verifiedSeq) {
      this.#verifiedSeq = next;
      // Saved first: another tab (leader.ts) reads it when told.
      await this.#save();
      this.#verified?.();
    }
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
    this.#onServer.clear();
    this.#loaded = Promise.resolve();
  }

  get verifiedSeq(): number {
    return this.#verifiedSeq;
  }

  async #save(): Promise<void> {
    const seq = this.#verifiedSeq;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const existing = await this.#local.get(MARKER).catch(() => undefined);
        await this.#local.put({ _id: MARKER, ...(existing?._rev ? { _rev: existing._rev } : {}), seq } as never);
        return;
      } catch {
        // a concurrent save won; try again with its revision
      }
    }
  }
}
