import type { StoredDoc } from '../store/codec.js';
import type { Change, ChangesFeed, Db, ReplicaDb } from '../store/db.js';
import { monotonicNow } from '../util/clock.js';

export type Seq = string | number;

/** Changes per catch-up read, and per long-poll answer. */
export const BATCH = 100;
/** Queued changes handled together at most (a document changed several times in them is handled once). */
export const MAX_BATCH = 500;

export function isSeq(seq: unknown): seq is Seq {
  return (typeof seq === 'string' && seq.length > 0) || (typeof seq === 'number' && Number.isFinite(seq));
}

/** The latest entry of each document among `entries` (a later one's leaves are the document's current ones). */
export function latestPerDoc(entries: Change[]): Map<string, Change> {
  const latest = new Map<string, Change>();
  for (const entry of entries) {
    latest.delete(entry.id);
    latest.set(entry.id, entry);
  }
  return latest;
}

/** The checkpoint document's sequence, or undefined. */
export async function readSeq(local: Db, id: string): Promise<{ seq: Seq | undefined; rev: string | undefined }> {
  const saved = (await local.get(id).catch(() => undefined)) as (StoredDoc & { seq?: unknown }) | undefined;
  return { seq: isSeq(saved?.seq) ? saved.seq : undefined, rev: saved?._rev };
}

type Listener = (arg: never) => void;

/**
 * CouchDB's answer to a `since` it cannot read: 400 with "Malformed sequence …" (fabric_view_changes); or the front's
 * to a request line too long for it (414, 431: a sequence longer than nginx takes in a URL, as a server or proxy that
 * answered one may leave behind) — the checkpoint is not usable: read from the start again.
 */
function refusedSince(error: unknown): boolean {
  const e = error as { status?: unknown; reason?: unknown; message?: unknown } | null;
  return (e?.status === 400 && /sequence|since/i.test(String(e.reason ?? e.message))) || e?.status === 414 || e?.status === 431;
}

/**
 * One direction of live sync, answering like a PouchDB replication for `Replicator`: events `active`, `paused` (with
 * the error when something failed; it retries by itself after `backOff`), `change` (`{ docs }` written), `denied`;
 * `cancel()`; awaitable until stopped. A subclass reads what is new in batches until caught up (`catchUp`), then follows
 * a live changes feed (`follow`) whose entries it handles as they come (`pump`). Its checkpoint (the sequence handled up
 * to) is a `_local` document of the local replica, saved one write at a time, off the path of the data.
 */
/**
 * How long the live feed must have stayed up before a failure starts the backoff over (ms): longer than a feed that
 * fails at once lasts, short enough that a network blipping every few seconds is not met with the longest backoff
 * (8 s) after each blip once a few came close together.
 */
const FEED_PROVEN_MS = 4_000;
/** How long a page's body may take to arrive after its answer began before the side reads as transferring (ms). */
const ANSWER_FLOWING_MS = 500;
/** The checkpoint is written at most this often (ms). */
const CHECKPOINT_EVERY_MS = 500;

export abstract class LiveLoop implements PromiseLike<void> {
  protected readonly local: ReplicaDb;
  protected cancelled = false;
  protected since: Seq = 0;
  protected queue: Change[] = [];
  #listeners = new Map<string, Listener[]>();
  #backOff: (delay: number) => number;
  #feed: ChangesFeed | undefined;
  #wake: (() => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #active = false;
  #checkpointId: string;
  #checkpoint: {
    rev?: string | undefined;
    saving?: Promise<void> | undefined;
    next?: Seq | undefined;
    timer?: ReturnType<typeof setTimeout> | undefined;
    last?: number;
  } = {};
  #done: Promise<void> | undefined;

  protected constructor(local: Db, backOff: (delay: number) => number, checkpointId: string) {
    this.local = local as ReplicaDb;
    this.#backOff = backOff;
    this.#checkpointId = checkpointId;
  }

  /** Starts the loop (the subclass's constructor calls it last). */
  protected start(): void {
    this.#done = this.#run();
  }

  /** Changes are being transferred (a page written or arriving), as the last `active`/`paused` event said. */
  get transferring(): boolean {
    return this.#active;
  }

  /** The server sequence handled up to (the last change written to the replica, or the checkpoint's). */
  get seq(): Seq {
    return this.since;
  }

  /** The sequence to start from (the checkpoint's, by default). */
  protected async startSeq(): Promise<Seq | undefined> {
    const { seq, rev } = await readSeq(this.local, this.#checkpointId);
    this.#checkpoint.rev = rev;
    return seq;
  }

  /** A changes request for one batch from `since` (`limit: BATCH`, `return_docs: true`), made with `changes()`. */
  protected abstract batch(): ChangesFeed;
  /** Handles entries of a changes feed (writes or sends them). */
  protected abstract handle(entries: unknown[]): Promise<void>;
  /** Handles what the live feed queued. */
  protected abstract pump(): void;
  /** Resolves when the work in flight is done. */
  protected abstract settled(): Promise<void>;

  on(event: string, listener: Listener): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
    return this;
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.#checkpoint.timer);
    this.#checkpoint.timer = undefined;
    this.#feed?.cancel();
    this.#wake?.();
    this.#fail?.(undefined);
  }

  then<A = void, B = never>(onDone?: ((value: void) => A | PromiseLike<A>) | null, onFailed?: ((reason: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    return (this.#done ?? Promise.resolve()).then(onDone, onFailed);
  }

  protected emit(event: string, arg?: unknown): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (arg: unknown) => void)(arg);
  }

  protected setActive(active: boolean): void {
    if (this.#active === active) return;
    this.#active = active;
    this.emit(active ? 'active' : 'paused');
  }

  /** Stops following: the failure is reported and retried (`undefined`: stopped). */
  protected fail(error: unknown): void {
    this.#fail?.(error);
  }

  /** A changes request of `source` that `cancel()` stops. */
  protected changes(source: Db, options: Record<string, unknown>): ChangesFeed {
    const feed = source.changes(options);
    this.#feed = feed;
    return feed;
  }

  /** Only reads what is new until caught up, once; a failure rejects (the first pull before live sync). */
  protected once = false;

  async #run(): Promise<void> {
    const seq = await this.startSeq();
    if (seq !== undefined) this.since = seq;
    if (this.once) {
      try {
        return await this.catchUp();
      } finally {
        await this.settled().catch(() => undefined);
        await this.#checkpointSaved();
      }
    }
    let delay = 0;
    /** When the live feed was started (monotonic ms); undefined while catching up. */
    let following: number | undefined;
    while (!this.cancelled) {
      try {
        // After a feed that completed: what it queued and did not handle is read again, once the rest is handled.
        if (following !== undefined) await this.settled();
        following = undefined;
        await this.catchUp();
        if (this.cancelled) break;
        // Caught up: its checkpoint is written now, not after the interval.
        if (this.#checkpoint.next !== undefined) this.save(this.#checkpoint.next, true);
        this.#active = true;
        this.setActive(false);
        following = monotonicNow();
        await this.#follow();
        // The live feed ended (a proxy's limit on a connection's life, a server restart): it is read and followed again.
        this.emit('restarted');
      } catch (error) {
        await this.settled().catch(() => undefined);
        if (this.cancelled) break;
        if (following !== undefined) this.feedFailed(error);
        // A checkpoint the server refuses (400 "Malformed sequence supplied in 'since' parameter": one from another
        // server or a database restored from elsewhere) is dropped: read again from the start, the replica skips what
        // it has. Retried as it was, it failed forever.
        if (this.since !== 0 && refusedSince(error)) this.since = 0;
        // The backoff starts over only after the live feed stayed up a while: a feed that fails at once (while the
        // catch-up works) keeps backing off instead of retrying every half second.
        if (following !== undefined && monotonicNow() - following > FEED_PROVEN_MS) delay = 0;
        this.#active = false;
        this.emit('paused', error);
        delay = this.#backOff(delay);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    }
    await this.settled().catch(() => undefined);
    await this.#checkpointSaved();
  }

  /** Resolves when the checkpoint waiting (if any, and not cancelled) is written: no save left running or waiting. */
  async #checkpointSaved(): Promise<void> {
    const state = this.#checkpoint;
    for (;;) {
      if (state.saving) await state.saving;
      else if (state.next !== undefined && !this.cancelled) this.save(state.next, true);
      else return;
    }
  }

  /** Batches of changes since the checkpoint, each handled before the next is asked, until fewer than a batch came. */
  protected async catchUp(): Promise<void> {
    for (;;) {
      const feed = this.batch();
      // A page the server answered whose body is still arriving after ANSWER_FLOWING_MS (a big value over a slow
      // link): changes are being transferred — `active`, not `connecting` (a quick answer, often empty, says nothing).
      let flowing: ReturnType<typeof setTimeout> | undefined;
      feed.on('answered', () => {
        // (A page answered again — asked half as long after one too large to read — restarts the wait.)
        clearTimeout(flowing);
        flowing = setTimeout(() => !this.cancelled && this.setActive(true), ANSWER_FLOWING_MS);
        (flowing as { unref?: () => void }).unref?.();
      });
      let answer: { results?: unknown; last_seq?: unknown } | undefined;
      try {
        answer = (await feed) as typeof answer;
      } finally {
        clearTimeout(flowing);
      }
      if (this.cancelled) return;
      const results = Array.isArray(answer?.results) ? (answer.results as unknown[]) : [];
      if (results.length) {
        this.setActive(true);
        await this.handle(results);
      }
      if (isSeq(answer?.last_seq) && answer.last_seq !== this.since) {
        this.since = answer.last_seq;
        this.save(answer.last_seq);
      }
      if (results.length < BATCH) return;
    }
  }

  /** The live feed from `since`; rejects when it or the handling of its entries fails, resolves when cancelled. */
  #follow(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const feed = this.feed();
      this.#fail = (error) => {
        this.#fail = undefined;
        this.queue = [];
        feed.cancel();
        if (error === undefined || this.cancelled) resolve();
        else reject(error);
      };
      feed.on('change', (change) => {
        this.queue.push(change);
        this.pump();
      });
      feed.on('error', (error) => this.#fail?.(error ?? new Error('the changes feed stopped')));
      // A feed that completes (a stream the server ended after a while): read what was missed and follow again.
      feed.on('complete', () => this.#fail?.(undefined));
    });
  }

  /**
   * The checkpoint to save for `seq` — every save goes through it, the catch-up's too: never past a change that is
   * still to be handled again (the push's refused documents).
   */
  protected holdBack(seq: Seq): Seq {
    return seq;
  }

  /** The live changes feed to follow (from `since`). */
  protected abstract feed(): ChangesFeed;

  /** The live feed (or the handling of its entries) failed with `error`; the loop starts again after its backoff. */
  protected feedFailed(_error: unknown): void {
    // nothing by default
  }

  /**
   * Saves the checkpoint (everything up to `seq` handled): one save at a time, at most one per CHECKPOINT_EVERY_MS
   * (the latest waiting wins). Under a stream of small batches that is a write now and then instead of one per batch;
   * what a stop loses of it (a cancelled side drops the save waiting) is only handled again, which changes nothing.
   */
  protected save(to: Seq, now = false): void {
    // A cancelled side may have stopped inside a batch (its write or send returned early): saving would skip it.
    if (this.cancelled) return;
    const seq = this.holdBack(to);
    const state = this.#checkpoint;
    state.next = seq;
    if (now && state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.saving || state.timer) return;
    const wait = now ? 0 : (state.last ?? -Infinity) + CHECKPOINT_EVERY_MS - monotonicNow();
    if (wait > 0) {
      state.timer = setTimeout(() => {
        state.timer = undefined;
        if (!this.cancelled && state.next !== undefined) this.save(state.next);
      }, wait);
      return;
    }
    const next = seq;
    state.next = undefined;
    state.last = monotonicNow();
    state.saving = (async () => {
      const doc = { _id: this.#checkpointId, ...(state.rev ? { _rev: state.rev } : {}), seq: next };
      // A checkpoint not saved only means that some changes are handled again.
      const result = await this.local.put(doc as StoredDoc).catch(async () => {
        state.rev = (await readSeq(this.local, this.#checkpointId)).rev;
        return undefined;
      });
      if (result) state.rev = result.rev;
    })().finally(() => {
      state.saving = undefined;
      if (state.next !== undefined) this.save(state.next, now);
    });
  }

}
