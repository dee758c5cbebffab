import { isChunkId, isUnheld, type StoredDoc } from '../store/codec.js';
import type { BulkResult, Change, ChangesFeed, Db, ReplicaDb } from '../store/db.js';
import { BATCH, latestPerDoc, LiveLoop, MAX_BATCH, readSeq, type Seq } from './live-loop.js';
import { monotonicNow } from '../util/clock.js';

/** A revision's generation (the number before its `-`). */
const generation = (rev: string): number => Number.parseInt(rev, 10) || 0;

/** The local document holding the local sequence up to which every change was sent (local replica only). */
export const PUSH_CHECKPOINT = '_local/sync-push';
/** The push tracker's marker (push-tracker.ts): every change up to its `seq` is known to be on the server. */
export const VERIFIED_MARKER = '_local/feat-push';
/** `_bulk_docs` requests in flight at once. */
const IN_FLIGHT = 2;

type RevsDiff = (diff: Record<string, string[]>) => Promise<Record<string, { missing?: string[] }>>;

/** A refusal for size: the request's body (`too_large`) or the server's `max_document_size` (`document_too_large`). */
const isSizeRefusal = (name: string): boolean => name === 'too_large' || name === 'document_too_large';

/**
 * A document the server (or its proxy) refuses, not the request: a rule or a role (`forbidden`), or a size no request
 * can carry (`too_large`: the proxy's body limit is below `maxRequestBytes`, transport/body-limit.ts). What the side's
 * status reads while it holds.
 */
const refusal = (r: BulkResult): 'denied' | 'error' | undefined => {
  const name = String(r.name ?? r.error);
  if (name === 'unauthorized' || name === 'forbidden') return 'denied';
  if (isSizeRefusal(name)) return 'error';
  return undefined;
};


/** The replica's index definitions: replicated like values, but one the server refuses is given up (not retried). */
export const isDesign = (id: string) => id.startsWith('_design/');

/** A big value's manifest: its value is in the chunk documents it lists (store/chunks.ts). */
const isManifest = (d: StoredDoc) => !d._deleted && Array.isArray(d.feat?.chunks) && d.feat.chunks.length > 0;

/**
 * How long this client's own write may go unseen by the replica's changes feed before it is sent by itself (ms). The
 * memory and LevelDB adapters' feed skips a document written again while it reads (it reads the rows from a snapshot
 * and the document's latest sequence from now): under a writer that never pauses on one key it delivers nothing, and
 * the server fell seconds and over a thousand revisions behind.
 */
const UNSEEN_MS = 750;
/** Own writes remembered as unseen at most (the oldest go first; what the feed sends anyway is never lost). */
const UNSEEN_MAX = 1_000;

/** The first resend of documents the server refused, and the longest wait between resends (ms). */
const REFUSED_RETRY_MS = 5_000;
const REFUSED_RETRY_MAX_MS = 300_000;

/**
 * Live push from the local replica to the server database, without PouchDB's batch loop: what is written locally is
 * sent at once (no debounce), and while earlier batches are on their way the next ones start too (up to IN_FLIGHT
 * `_bulk_docs` at once). A document changed again before it was sent is sent once, at its newest revision (with its
 * whole revision history, as replication sends it, so the server links it to what it has). Which revisions the server
 * lacks is `revsDiff`'s answer (replicator.ts). The local sequence sent up to is kept in the local replica
 * (`PUSH_CHECKPOINT`; it starts from the push tracker's verified sequence when that is further). Events: `LiveLoop`.
 */
export class LivePush extends LiveLoop {
  #remote: ReplicaDb;
  #revsDiff: RevsDiff;
  /** Batches sent and not yet checkpointed, in order; `stored` rejects when the batch failed (`sent` never does). */
  #inFlight: { seq: Seq | undefined; done: boolean; sent: Promise<void>; stored: Promise<void>; chunks: boolean }[] = [];
  /**
   * The small changes sent ahead while every request slot carries a big value's chunks (#express), and the local
   * sequence up to which queued changes were sent so.
   */
  #express: Promise<void> | undefined;
  #expressSeq: Seq | undefined;
  #scheduled = false;
  /**
   * Documents the server refused (a `validate_doc_update` throwing `forbidden`, a role the user lost, a proxy's body
   * limit), by id, with the revision refused, the local sequence of its change and the status it gives: sent again with
   * backoff (a rule may be lifted, a limit raised), reported once per revision, and the checkpoint is not saved past
   * them (a restart sends them again). The other documents go on. `deleted`: the document's deletions held until the
   * refused revision is stored (`#send`), resent with it.
   */
  #refused = new Map<string, { rev: string; seq: Seq | undefined; status: 'denied' | 'error'; deleted: Set<string> }>();
  /** Chunks refused, with the refusal's name (told under their manifest's key, and cut again: #chunkRefused). */
  #chunkRefusals = new Map<string, string>();
  /** Those chunks' manifests (the key whose value they hold). */
  #chunkOwners = new Map<string, string>();
  #retry: ReturnType<typeof setTimeout> | undefined;
  #retryDelay = 0;
  /** This client's own writes the changes feed has not delivered yet (id → revision, when): see UNSEEN_MS. */
  #unseen = new Map<string, { rev: string; at: number }>();
  #unseenTimer: ReturnType<typeof setTimeout> | undefined;
  /** The own writes sent by themselves (#sendUnseen), while on their way. */
  #aheadOfFeed: Promise<void> | undefined;

  constructor(local: Db, remote: Db, backOff: (delay: number) => number, revsDiff: RevsDiff) {
    super(local, backOff, PUSH_CHECKPOINT);
    this.#remote = remote as ReplicaDb;
    this.#revsDiff = revsDiff;
    this.start();
  }

  protected override async startSeq(): Promise<Seq | undefined> {
    const own = await super.startSeq();
    const verified = (await readSeq(this.local, VERIFIED_MARKER)).seq;
    if (typeof own === 'number' && typeof verified === 'number') return Math.max(own, verified);
    return own ?? verified;
  }

  protected batch(): ChangesFeed {
    return this.changes(this.local, { since: this.since, style: 'all_docs', limit: BATCH, return_docs: true });
  }

  /** The side's status while the server refuses documents (`denied` before `error`), or undefined when it takes all. */
  get refused(): 'denied' | 'error' | undefined {
    let status: 'error' | undefined;
    for (const r of this.#refused.values()) {
      if (r.status === 'denied') return 'denied';
      status = r.status;
    }
    return status;
  }

  override cancel(): void {
    clearTimeout(this.#retry);
    clearTimeout(this.#unseenTimer);
    this.#unseen.clear();
    super.cancel();
  }

  /**
   * This client stored `rev` of `id` in the replica: when the changes feed has not delivered it within UNSEEN_MS, it is
   * sent by itself (as the express lane sends: never a manifest, the checkpoint untouched — the feed's change of it
   * comes later and finds it on the server).
   */
  written(id: string, rev: string): void {
    if (this.cancelled || id.startsWith('_local/')) return;
    // (Unseen already: since its first unseen write, in its place — a key written on and on is still sent.)
    const unseen = this.#unseen.get(id);
    if (unseen) unseen.rev = rev;
    else this.#unseen.set(id, { rev, at: monotonicNow() });
    if (this.#unseen.size > UNSEEN_MAX) this.#unseen.delete(this.#unseen.keys().next().value!);
    this.#unseenTimer ??= setTimeout(() => this.#sendUnseen(), UNSEEN_MS);
    (this.#unseenTimer as { unref?: () => void }).unref?.();
  }

  /** The feed delivered `change`: its document's own writes up to that revision are seen. */
  #seen(change: Change): void {
    const unseen = this.#unseen.get(change.id);
    if (unseen && change.changes.some((c) => generation(c.rev) >= generation(unseen.rev))) this.#unseen.delete(change.id);
  }

  #sendUnseen(): void {
    this.#unseenTimer = undefined;
    if (this.cancelled || this.#unseen.size === 0) return;
    if (!this.#aheadOfFeed) {
      const now = monotonicNow();
      const due: Change[] = [];
      // (Oldest first: the map keeps the order they were written in.)
      for (const [id, { rev, at }] of this.#unseen) {
        if (due.length >= MAX_BATCH || now - at < UNSEEN_MS) break;
        this.#unseen.delete(id);
        // (No sequence: a refusal of it holds no checkpoint back — the feed's change of it does, when it comes.)
        due.push({ id, changes: [{ rev }] } as unknown as Change);
      }
      if (due.length) {
        this.#aheadOfFeed = this.#send(due, [], true)
          // (Failed: the feed sends them in order all the same.)
          .catch(() => undefined)
          .finally(() => (this.#aheadOfFeed = undefined));
      }
    }
    if (this.#unseen.size > 0) {
      this.#unseenTimer = setTimeout(() => this.#sendUnseen(), UNSEEN_MS);
      (this.#unseenTimer as { unref?: () => void }).unref?.();
    }
  }

  protected handle(entries: unknown[]): Promise<void> {
    for (const entry of entries as Change[]) this.#seen(entry);
    return this.#send(entries as Change[]);
  }

  protected feed(): ChangesFeed {
    return this.changes(this.local, { live: true, since: this.since, style: 'all_docs', return_docs: false });
  }

  protected pump(): void {
    const last = this.queue.at(-1);
    if (last) this.#seen(last);
    // Changes of one local write arrive in the same turn: one batch for them.
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#next();
    });
  }

  protected async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight.map((b) => b.sent), this.#express, this.#aheadOfFeed]);
    // What was not checkpointed is sent again from the checkpoint.
    this.#inFlight = [];
  }

  /** Sends what is queued when a request slot is free. */
  #next(): void {
    while (this.queue.length && this.#inFlight.length < IN_FLIGHT && !this.cancelled) {
      const batch = this.queue.splice(0, MAX_BATCH);
      // The batches before this one: its manifests wait for them (#send).
      const earlier = this.#inFlight.map((b) => b.stored);
      const entry = { seq: batch.at(-1)?.seq, done: false, sent: Promise.resolve(), stored: Promise.resolve(), chunks: batch.some((c) => isChunkId(c.id)) };
      // (A batch whose manifest waits for the chunks in flight is bound to them too: small changes may go ahead.)
      const stored = this.#send(batch, earlier, false, () => {
        entry.chunks = true;
        this.#expressNext();
      });
      entry.stored = stored;
      this.setActive(true);
      entry.sent = stored.then(
        () => {
          entry.done = true;
          this.#settle();
        },
        (error: unknown) => this.fail(error),
      );
      this.#inFlight.push(entry);
    }
    this.#expressNext();
  }

  /**
   * While every request slot carries a big value's chunks (a slow uplink may take minutes over them), the small changes
   * queued behind them go ahead in a request of their own: a keystroke made meanwhile is not held behind megabytes.
   * They stay queued (sent again in order: a revision the server has is kept as it is), so the checkpoint never passes
   * a change not sent in order; a manifest is never sent ahead (#send: its chunks may still be queued).
   */
  #expressNext(): void {
    if (this.#express || this.cancelled || this.#inFlight.length < IN_FLIGHT || !this.#inFlight.every((b) => b.chunks)) return;
    const after = this.#expressSeq;
    const ahead = this.queue
      .filter((c) => !isChunkId(c.id) && (typeof after !== 'number' || typeof c.seq !== 'number' || c.seq > after))
      .slice(0, MAX_BATCH);
    if (!ahead.length) return;
    this.#expressSeq = ahead.at(-1)!.seq;
    this.#express = this.#send(ahead, [], true)
      // (Failed: sent in order all the same.)
      .catch(() => undefined)
      .finally(() => {
        this.#express = undefined;
        this.#expressNext();
      });
  }

  /** Checkpoints the batches done in order, starts what waits, and goes idle when nothing is left. */
  #settle(): void {
    let seq: Seq | undefined;
    while (this.#inFlight[0]?.done) seq = this.#inFlight.shift()!.seq ?? seq;
    if (seq !== undefined) {
      this.since = seq;
      this.save(seq);
    }
    if (this.cancelled) return;
    this.#next();
    if (!this.#inFlight.length && !this.queue.length) this.setActive(false);
  }

  /**
   * The checkpoint to save for `seq`: never past a refused document's change — the catch-up's save neither (after a
   * pause, a failure or a restart it reads the refused change again, and moved past it, the next session never sent it).
   */
  protected override holdBack(seq: Seq): Seq {
    let held = seq;
    for (const { seq: refused } of this.#refused.values()) {
      if (typeof refused === 'number' && typeof held === 'number' && refused - 1 < held) held = refused - 1;
    }
    return held;
  }

  /**
   * Sends the revisions of `changes` that the server lacks, with their history. A deletion of a document whose live
   * revision goes too (a conflict resolution wrote the kept value and the losing leaves' deletions at once) waits until
   * that one is stored: were the live revision refused (too large, forbidden) and the deletion taken, the server would
   * lose the other device's value, for every device. So the live revisions go first (with the deletions of the
   * documents without one here: one request, as a rule), then the deletions held; those of a refused document go
   * with its resend.
   *
   * A big value's manifest (`feat.chunks`, store/chunks.ts) goes only once its chunks are on the server: after the
   * other documents of the batch are stored (its chunks among them, in their own request: split over
   * `maxRequestBytes`, a part that failed does not stop the next ones), and after every `earlier` batch still in flight
   * is stored (chunks written in an earlier turn). Landed first, then its chunks' request failing (a reset, the tab
   * closed), the server would hold a manifest without its chunks: every other device would read `not_found` for the
   * key until this one came back. An earlier batch failed: the manifest is not sent (the push starts again from its
   * checkpoint); a chunk refused (a proxy's limit below `maxRequestBytes`): it is held with it, resent with it.
   * The other documents do not wait: the batches' concurrency is kept for them.
   */
  async #send(changes: Change[], earlier: Promise<void>[] = [], ahead = false, waiting?: () => void): Promise<void> {
    const diff: Record<string, string[]> = {};
    const latest = latestPerDoc(changes);
    for (const [id, change] of latest) {
      if (!id.startsWith('_local/')) Object.defineProperty(diff, id, { value: change.changes.map((c) => c.rev), enumerable: true });
    }
    if (!Object.keys(diff).length) return;
    const missing = await this.#revsDiff(diff);
    const wanted = Object.entries(missing).flatMap(([id, d]) => (d.missing ?? []).map((rev) => ({ id, rev })));
    if (!wanted.length || this.cancelled) return;
    const found = await this.local.bulkGet({ docs: wanted, revs: true, attachments: true });
    // (A revision held without its value is the server's, never this device's to send: isUnheld.)
    const docs = found.results.flatMap((r) => r.docs.flatMap((d) => ('ok' in d && !isUnheld(d.ok) ? [d.ok] : [])));
    // A refused revision no longer on the replica (compacted under a newer one, which goes by itself): not resent.
    for (const { id, rev } of wanted) {
      if (this.#refused.get(id)?.rev === rev && !docs.some((d) => d._id === id && d._rev === rev)) this.#refused.delete(id);
    }
    if (!docs.length) return;
    const withLive = new Set(docs.flatMap((d) => (d._deleted ? [] : [d._id])));
    const held = docs.filter((d) => d._deleted && withLive.has(d._id));
    const live = held.length ? docs.filter((d) => !held.includes(d)) : docs;
    const manifests = live.filter(isManifest);
    const first = manifests.length ? live.filter((d) => !manifests.includes(d)) : live;
    if (ahead) {
      // Sent ahead of the chunks (#expressNext): no manifest, nor the deletions that wait for one.
      const later = new Set(manifests.map((m) => m._id));
      manifests.length = 0;
      for (let i = held.length - 1; i >= 0; i--) if (later.has(held[i]!._id)) held.splice(i, 1);
    }
    const { stored, refusedNow } = first.length ? await this.#store(first, latest) : { stored: [], refusedNow: new Set<string>() };
    // (Rejects when an earlier batch failed: this one fails too, its manifests not sent.)
    if (manifests.length && earlier.length) {
      waiting?.();
      await Promise.all(earlier);
    }
    if (manifests.length && !this.cancelled) {
      const going = manifests.filter((m) => !this.#chunkRefused(m, refusedNow, latest));
      const more = going.length ? await this.#store(going, latest) : { stored: [], refusedNow: new Set<string>() };
      stored.push(...more.stored);
      for (const id of more.refusedNow) refusedNow.add(id);
    }
    // Not after a live revision refused now — even one edited since (its refusal not kept: the next revision's change
    // names every leaf, these deletions with it). An index definition refused is given up, not resent: its deletions
    // are sent (and given up) as before.
    const follow = held.filter((d) => isDesign(d._id) || (!refusedNow.has(d._id) && !this.#refused.has(d._id)));
    for (const d of held) this.#refused.get(d._id)?.deleted.add(d._rev!);
    if (follow.length && !this.cancelled) stored.push(...(await this.#store(follow, latest)).stored);
    if (this.#refused.size) this.#retryLater();
    if (stored.length) this.emit('change', { docs: stored, docs_written: stored.length });
  }

  /**
   * One `_bulk_docs` of `docs`; records the documents refused (reported once per revision). Returns those stored, and
   * the ids the server refused in this request.
   */
  async #store(docs: StoredDoc[], latest: Map<string, Change>): Promise<{ stored: StoredDoc[]; refusedNow: Set<string> }> {
    const results = await this.#remote.bulkDocs(docs, { new_edits: false });
    // With `new_edits: false` CouchDB lists only the documents it refused: the others are stored.
    const refusedNow = new Set<string>();
    for (const result of results) {
      if (!result.error) continue;
      const status = refusal(result);
      if (!status || typeof result.id !== 'string') throw result;
      const id = result.id;
      refusedNow.add(id);
      const rev = typeof result.rev === 'string' ? result.rev : (docs.find((d) => d._id === id)?._rev ?? '');
      if (isDesign(id)) {
        // An index definition the user may not write there (a member, not an admin, of the database): said once,
        // and given up — the indexes work on the replica all the same.
        this.emit('denied', result);
        this.emit('given-up', { id, rev });
        continue;
      }
      const before = this.#refused.get(id);
      // Edited since it was sent (a slow uplink, a resend): the refusal of a revision that is no longer a leaf is old
      // news — the newer one goes by itself, and stored, it must not be sent again nor keep the status at `error`.
      if (!(await this.#isLeaf(id, rev))) {
        if (before?.rev === rev) this.#refused.delete(id);
        continue;
      }
      this.#refused.set(id, { rev, seq: before?.seq ?? latest.get(id)?.seq, status, deleted: before?.deleted ?? new Set() });
      const name = String(result.name ?? result.error);
      const tooLarge = isSizeRefusal(name);
      if (isChunkId(id)) {
        // Told under the key whose value it holds, with its manifest (#chunkRefused): its id means nothing to the app.
        if (this.#chunkRefusals.size < 10_000) this.#chunkRefusals.set(id, name);
        continue;
      }
      // Once per revision: a resend refused again says nothing new.
      if (before?.rev !== rev) {
        this.emit('denied', result);
        // Too large for a request now: the store may cut it for the current limits (store.ts `reshape`).
        if (tooLarge) this.emit('too-large', id);
      }
    }
    const stored = docs.filter((d) => !refusedNow.has(d._id));
    for (const doc of stored) {
      this.#refused.delete(doc._id);
      this.#chunkRefusals.delete(doc._id);
      // A value stored in a new shape (store.ts `reshape`): the chunks of its refused one are no longer sent.
      if (!isChunkId(doc._id) && this.#chunkOwners.size) {
        const now = new Set(doc.feat?.chunks ?? []);
        for (const [chunk, owner] of this.#chunkOwners) {
          if (owner !== doc._id || now.has(chunk)) continue;
          this.#chunkOwners.delete(chunk);
          this.#chunkRefusals.delete(chunk);
          const refused = this.#refused.get(chunk);
          this.#refused.delete(chunk);
          // Not pending any more (push-tracker.ts): no value refers to it; chunk collection deletes it here.
          if (refused) this.emit('given-up', { id: chunk, rev: refused.rev });
        }
      }
    }
    return { stored, refusedNow };
  }

  /**
   * Whether one of the chunks of the manifest `doc` is refused by the server (now, or still): the manifest is then held
   * as refused too, with the chunk's status (not reported: the chunk's refusal was), and resent with it.
   */
  #chunkRefused(doc: StoredDoc, refusedNow: Set<string>, latest: Map<string, Change>): boolean {
    const chunk = doc.feat!.chunks!.find((id) => refusedNow.has(id) || this.#refused.has(id));
    if (chunk === undefined) return false;
    const before = this.#refused.get(doc._id);
    const status = this.#refused.get(chunk)?.status ?? 'error';
    this.#refused.set(doc._id, { rev: doc._rev!, seq: before?.seq ?? latest.get(doc._id)?.seq, status, deleted: before?.deleted ?? new Set() });
    refusedNow.add(doc._id);
    if (before?.rev !== doc._rev) {
      // Said once per revision of the value, under its key (the chunk's refusal was not).
      // (The chunk's own refusal: its name, as the server or the transport gave it.)
      const name = this.#chunkRefusals.get(chunk) ?? (status === 'denied' ? 'forbidden' : 'too_large');
      const tooLarge = isSizeRefusal(name);
      for (const id of doc.feat!.chunks!) if (this.#chunkRefusals.has(id)) this.#chunkOwners.set(id, doc._id);
      this.emit('denied', {
        id: doc._id,
        rev: doc._rev,
        status: tooLarge ? 413 : name === 'unauthorized' ? 401 : 403,
        error: name,
        reason: `a part of its value (chunk ${chunk}) was refused${tooLarge ? ': too large for a request' : ''}`,
      });
      if (tooLarge) this.emit('too-large', doc._id);
    }
    return true;
  }

  /** Whether `rev` is still one of the document's leaves on the replica (true when that cannot be read). */
  async #isLeaf(id: string, rev: string): Promise<boolean> {
    try {
      const leaves = (await this.local.get(id, { open_revs: 'all' })) as unknown as { ok?: { _rev?: string } }[];
      return leaves.some((l) => l.ok?._rev === rev);
    } catch {
      return true;
    }
  }

  /** Sends the refused documents again after a backoff (with jitter), until the server takes them or sync stops. */
  #retryLater(): void {
    if (this.#retry || this.cancelled) return;
    this.#retryDelay = Math.min(REFUSED_RETRY_MAX_MS, this.#retryDelay ? this.#retryDelay * 2 : REFUSED_RETRY_MS);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.cancelled || !this.#refused.size) return;
      // With the deletions held for the refused revision: once the server takes it, they follow in the same send.
      const again: Change[] = [...this.#refused].map(
        ([id, r]) => ({ id, seq: r.seq ?? 0, changes: [r.rev, ...r.deleted].map((rev) => ({ rev })) }) as Change,
      );
      // (A refused manifest goes after the batches in flight, as in #next.)
      this.#send(
        again,
        this.#inFlight.map((b) => b.stored),
      ).then(
        () => {
          // Still refused: the next resend (#send schedules it, unless it had nothing it could send).
          if (this.#refused.size) return this.#retryLater();
          this.#retryDelay = 0;
          // Nothing refused any more: the side is up to date again (its status, the checkpoint held back).
          this.save(this.since);
          this.emit('paused');
        },
        () => this.#retryLater(),
      );
    }, this.#retryDelay * (0.5 + Math.random() / 2));
    (this.#retry as { unref?: () => void }).unref?.();
  }
}
