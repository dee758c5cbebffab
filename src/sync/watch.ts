import { backoff } from '../util/backoff.js';
import { callListener, closedError, FeatError, toFeatError } from '../errors.js';
import type { StoreIO } from '../store/io.js';
import { decode, encode, isExpired, type StoredDoc, type WriteOp } from '../store/codec.js';
import type { Change, ChangesFeed, Db } from '../store/db.js';
import { INTERNAL_PREFIX } from '../store/validate.js';
import { parsePartId, partId } from '../store/ids.js';
import { LATE, within } from '../util/abort.js';
import { lazy } from '../util/lazy.js';
import { limiter } from '../util/limit.js';
import { remember } from '../util/remember.js';
import { cloneJson } from '../util/json.js';

const loadCurrent = lazy(() => import('../store/current.js'));

/**
 * Remote mode: how long the watch's long-poll of `_changes` waits for a change before the server answers it empty and
 * it is asked again (CouchDB's `timeout`; no heartbeat, which would keep it open for good). A browser gives one host six
 * HTTP/1.1 connections, shared by every tab and the app's own requests: six tabs each holding a long-poll for good left
 * no connection for anything else — writes, reads and the app's own fetches waited in the browser, then failed as
 * `timeout`. Answered every WATCH_POLL_MS, each tab's long-poll frees its connection for whatever is waiting. (A change
 * still comes at once. The silence limit is this wait plus `requestTimeout`, as it was the heartbeat's.)
 */
const WATCH_POLL_MS = 10_000;

export interface ChangeEvent<T = unknown> {
  /** The changed key (for a part: the key it belongs to). */
  key: string;
  /** For a part of `key` (see `getParts`): its subkey. */
  subkey?: string;
  /** The new value; `undefined` for a delete. */
  value: T | undefined;
  kind: 'insert' | 'update' | 'delete';
  /** `'local'`: written by this client; `'remote'`: arrived from the server (another device). */
  origin: 'local' | 'remote';
  /** Set on the values delivered first by `watch(…, { current: true })`: what is stored now, not a change. */
  current?: true;
}

/** A watch that starts with what is stored now (`watch(…, { current: true })`). */
export interface CurrentRead {
  /** The store the current values are read from, once the feed is live (so that no later change is missed). */
  io: StoreIO;
  /**
   * `false`: the app did not ask for the current values; they are read only when the feed's starting point came later
   * than the subscription (see ChangeWatcher.#catchUp). Default `true`.
   */
  initial?: boolean | undefined;
  /** Where a failed read goes (else to the watcher's `onError`). */
  onError?: ((error: FeatError) => void) | undefined;
  /** Called once the current values are delivered, before the changes held meanwhile. */
  onCurrent?: (() => void) | undefined;
}

/**
 * What a subscription reports: a string or `{ key }`, the key itself and its parts (`getParts(key)`), nothing else;
 * `{ prefix }`, every key that starts with `prefix` and the parts of those keys.
 */
export type WatchTarget = string | { key: string; prefix?: undefined } | { prefix: string; key?: undefined };

/** A subscription's target, normalized: exactly one key (and its parts), or a prefix. */
export type WatchScope = { key: string; prefix?: undefined } | { prefix: string; key?: undefined };

export interface WatchSource {
  subscribe(target: WatchScope, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void;
  /**
   * Resolves once every subscription made so far reports the changes made from now on (its feed has its starting
   * point), or after `ms`, or when starting failed. Writes wait for it, so a subscription sees the client's own writes.
   * `undefined` when there is nothing to wait for (no promise hop on every write, W4 in docs/benchmarks.md).
   */
  started(ms: number): Promise<void> | undefined;
  /** This client stored `rev` of `id` (the value of `op`): reported in order, even when the feed only shows a later one. */
  wrote?(id: string, rev: string, op: WriteOp): void;
}

type Subscription = WatchScope & {
  listener: (event: ChangeEvent) => void;
  /** Changes held back while the current values are read (they come first), with their document and revision. */
  held?: { event: ChangeEvent; id?: string | undefined; rev?: string | undefined }[] | undefined;
  /** The next try of a failed read of the current values. */
  retry?: ReturnType<typeof setTimeout> | undefined;
  /** Reads the current values and delivers them (then the changes held meanwhile); `catchUp`: not the first read. */
  read?: ((catchUp?: boolean) => unknown) | undefined;
  /** A read of the current values is on its way (started, not answered): a catch-up after it is read again. */
  reading?: boolean;
  /** Read once more when the read on its way is answered (it may have started before the feed's starting point). */
  again?: boolean;
  /** The retry of a refused read waiting in `#waiting` (taken out when the subscription goes). */
  waitingRead?: (() => unknown) | undefined;
  /** What its current reads delivered, by id (`''`: the key absent): a catch-up does not tell it again. */
  shown?: Map<string, string>;
};

/** A refusal of the session or of a read: trying again by itself would not help (see ChangeWatcher.#failed). */
const refused = (error: FeatError) => error.code === 'forbidden' || error.code === 'unauthorized';

/**
 * Which key (and subkey) a subscription to `scope` reports a change of `id` as (`part`: the key and subkey `id` names
 * as a part, `parsePartId(id)`); `undefined`: not reported.
 */
export function eventFor(scope: WatchScope, id: string, part: { key: string; subkey: string } | undefined) {
  const sub = scope;
  if (sub.key !== undefined) {
    if (id === sub.key) return { key: id };
    return part?.key === sub.key ? part : undefined;
  }
  if (!id.startsWith(sub.prefix)) return undefined;
  return part?.key.startsWith(sub.prefix) ? part : { key: id };
}

/** How long the feed's starting point (the database's current sequence) may take to come. */
const START_TIMEOUT_MS = 10_000;

export interface ChangeWatcherOptions {
  db(): Promise<Db>;
  /** The database when the client is started already (no wait, nothing started): see `pinned`. */
  dbNow?(): Db | undefined;
  /** True when this client wrote `rev` of `id`. */
  isOwn(id: string, rev: string): boolean;
  /** True when `doc` is this client's write whose answer was lost (it never learnt its revision). */
  lostOwn?(id: string, doc: StoredDoc): boolean;
  /**
   * True when this client has since written a newer value of `id` than `rev` (a later generation). Remote mode only:
   * a local replica's feed carries the current winner, which is never older than a live own write.
   */
  supersededByOwn?(id: string, rev: string): boolean;
  /**
   * This client's write of `id` on its way, if any: a change can reach the feed before the write's answer does (a real
   * server answers the long-poll first), so its origin is told once that write has its answer.
   */
  writing?(id: string): Promise<void> | undefined;
  /** Turns a stored document into the value readers see (chunked values are reassembled). */
  reassemble?(change: Change): Promise<unknown>;
  /**
   * Resolves the conflicting leaves of `id` (remote mode: the store's resolving read). Without it (a replica) the
   * replicator resolves them after its pull batch.
   */
  resolve?: ((id: string) => Promise<unknown>) | undefined;
  onError(error: FeatError): void;
  /**
   * The database's state asked for when the first subscription came, before this module was loaded (lazy-watch.ts):
   * the first feed starts there — a change made while the module loaded is one made after watch() returned.
   */
  pinned?: Promise<{ update_seq?: unknown }> | undefined;
  /**
   * Local-first: the replica's state when it was opened, before its first pull or catch-up (settles once it is). A
   * first subscription made before the client was started starts there, so that what that pull brings — changes other
   * devices made after watch() returned — is reported.
   */
  opened?: (() => Promise<{ update_seq?: unknown }> | undefined) | undefined;
}

/** Turns the database's live changes feed into {@link ChangeEvent}s for the subscribed keys and prefixes. */
export class ChangeWatcher implements WatchSource {
  #options: ChangeWatcherOptions;
  #subs = new Set<Subscription>();
  #feed: ChangesFeed | undefined;
  #starting = false;
  /** Ids seen deleted (bounded, oldest first out): their next value is an `insert`. */
  #deleted = new Set<string>();
  /**
   * The last revision reported per id (bounded): a feed with the documents included can carry one revision twice —
   * CouchDB reads the document when it answers, so an earlier change of it comes with its latest revision, and the
   * change that made that revision comes again in the next answer.
   */
  #reported = new Map<string, string>();
  /**
   * This client's own revisions not reported yet, per id in the order they were stored (bounded): a feed carries only a
   * document's latest revision when it reads, so two awaited writes of a key between two of its reads came as one
   * event. Each goes out just before the feed's change of a later (or the same) generation of the document: in the
   * feed's order, after a change it read before the write landed.
   */
  #own = new Map<string, Change[]>();
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  /** The session was refused (see #failed): the feed waits for {@link resume}. */
  #refused = false;
  /** A first start failed before it had a starting point: the one taken later comes after the subscriptions. */
  #late = false;
  /** Where the feed (re)starts: the sequence when the first subscription came, then the last change seen. */
  #since: number | string | undefined;
  /** Settles when the feed has its starting point (pending only while the first subscription's feed starts). */
  #startup: Promise<void> | undefined;
  /** Current reads waiting for the feed to be live. */
  #waiting = new Set<() => void>();
  /**
   * Changes of documents with conflicting leaves, held per id until their resolution's revision arrives (the winner
   * CouchDB picks may be the older value the resolver drops: shown, the watch would go back to it), at most HOLD_MS.
   */
  #held = new Map<string, { change: Change; timer: ReturnType<typeof setTimeout>; asked?: true }>();
  /**
   * The time (`updatedAt`) of each deleted leaf looked at, by `id rev` (bounded): a leaf never changes, and the losing
   * leaves a resolution deleted stay next to the winner for good, so each is read once, not on every change.
   */
  #removedAt = new Map<string, number>();
  /** Events are delivered in order even when a value needs async work to reassemble. */
  #chain = Promise.resolve();
  /** Resolutions asked for, a few at a time (a burst of conflicted documents must not open a connection each). */
  #resolving = limiter(4);

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(target: WatchScope, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void {
    const initial = current !== undefined && current.initial !== false;
    const sub: Subscription = { ...(target.key !== undefined ? { key: target.key } : { prefix: target.prefix }), listener, held: initial ? [] : undefined };
    this.#subs.add(sub);
    // The read starts once the feed is live (or failed to start: it retries on its own; the read is tried all the same).
    // A failed read is reported and tried again with backoff, the changes still held: the current values always come
    // whole and first.
    let failures = 0;
    let told = false;
    const read = (catchUp = false): unknown => {
      if (!this.#subs.has(sub)) return;
      if (catchUp) sub.held ??= [];
      sub.reading = true;
      return loadCurrent()
        .then((m) => m.currentEvents(current!.io, target))
        .then(
          ({ events, revs }) => {
            sub.reading = false;
            if (sub.again) {
              // Started before the feed's late starting point: what it read may miss a change made since. Read again.
              sub.again = false;
              return void read(true);
            }
            const held = sub.held ?? [];
            sub.held = undefined;
            const shown = (sub.shown ??= new Map());
            for (const event of events) {
              const id = event.subkey === undefined ? event.key : partId(event.key, event.subkey);
              const rev = revs.get(id) ?? '';
              // A catch-up tells only what changed since what this subscription was told (by a read or the feed).
              if (catchUp && (shown.get(id) === rev || (rev !== '' && this.#reported.get(id) === rev))) continue;
              remember(shown, id, rev, REPORTED_IDS);
              this.#deliver(sub, event);
            }
            // (Once: a catch-up's current values are no new "loaded" moment.)
            if (initial && !told && current!.onCurrent && this.#subs.has(sub)) {
              told = true;
              this.#call(current!.onCurrent);
            }
            for (const { event, id, rev } of held) {
              // A change older than the current value (the feed carried it late: another tab wrote on meanwhile) would
              // take the listener back after it: not delivered. (The current value's own revision may come again.)
              const read = id === undefined ? undefined : revs.get(id);
              if (read !== undefined && rev && generation(rev) < generation(read)) continue;
              this.#deliver(sub, event);
            }
          },
          (error: unknown) => {
            sub.reading = sub.again = false;
            const failure = toFeatError(error);
            // Ended by close() (a resolution it cut short): nothing to report.
            if (!this.#subs.has(sub) || (failure.code === 'closed' && current!.io.ctx.closed?.aborted)) return;
            (current!.onError ?? this.#options.onError)(failure);
            const retry = () => read(catchUp);
            // Refused with no feed (the read was the client's ready() too: see #failed): tried again once resumed.
            if (refused(failure) && !this.#feed) {
              this.#refused = true;
              sub.waitingRead = retry;
              this.#waiting.add(retry);
            } else if (failure.code !== 'storage_lost') {
              sub.retry = setTimeout(() => {
                sub.retry = undefined;
                retry();
              }, backoff(failures++));
            }
          },
        );
    };
    if (current) sub.read = read;
    if (initial && this.#feed) queueMicrotask(read);
    else if (initial) this.#waiting.add(read);
    // The client closes: a watch with its own `onError` (a hook) ends with `closed`, as a live query does.
    const closed = current?.onError && current.io.ctx.closed;
    const onClosed = () => {
      if (this.#subs.delete(sub)) current!.onError!(closedError());
    };
    if (closed?.aborted) onClosed();
    else closed?.addEventListener('abort', onClosed, { once: true });
    this.#start();
    return () => {
      closed?.removeEventListener('abort', onClosed);
      clearTimeout(sub.retry);
      this.#waiting.delete(read);
      if (sub.waitingRead) this.#waiting.delete(sub.waitingRead);
      this.#subs.delete(sub);
      if (this.#subs.size === 0) void this.#stop();
    };
  }

  /** The feed is live (or failed to start): the current reads waiting for it go. */
  #live(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    waiting.forEach((read) => read());
  }

  #deliver(sub: Subscription, event: ChangeEvent, id?: string, rev?: string): void {
    if (!this.#subs.has(sub)) return;
    if (sub.held) return void sub.held.push({ event, id, rev });
    // (Another app's value may nest deeper than structuredClone's stack: cloneJson.)
    this.#call(() => sub.listener(event.value === undefined ? event : { ...event, value: cloneJson(event.value) }));
  }

  /** Calls an app's listener: one that throws or rejects is reported (an `error` event), as `sync.on` listeners are. */
  #call(listener: () => unknown): void {
    callListener(listener, this.#options.onError);
  }

  started(ms: number): Promise<void> | undefined {
    // A write has its database: the session is no longer refused.
    this.resume();
    const startup = this.#startup;
    if (!startup) return undefined;
    return within(startup, ms).then(() => undefined);
  }

  wrote(id: string, rev: string, op: WriteOp): void {
    // Before the starting point: not a change made after watch() returned. Already reported: the feed was first.
    if (this.#since === undefined || this.#reported.get(id) === rev || id.startsWith('_') || id.startsWith(INTERNAL_PREFIX)) return;
    const part = parsePartId(id);
    if (![...this.#subs].some((sub) => eventFor(sub, id, part))) return;
    // The value as written, inline (a chunked one as well: no chunk is read for it).
    const change: Change = { id, seq: 0, changes: [{ rev }], doc: encode(id, op, rev) };
    remember(this.#own, id, [...(this.#own.get(id) ?? []), change].slice(-OWN_PER_ID), REPORTED_IDS);
  }

  /** Stops the feed; resolves when it has finished (so the database can be closed safely). */
  close(): Promise<void> {
    this.#closed = true;
    this.#subs.forEach((sub) => clearTimeout(sub.retry));
    this.#subs.clear();
    this.#waiting.clear();
    return this.#stop();
  }

  /** Starts the feed (and the current reads) again after a refusal, once the app's own call got the client ready. */
  resume(): void {
    if (!this.#refused) return;
    this.#refused = false;
    if (this.#feed) this.#live();
    else this.#start();
  }

  #start(): void {
    if (this.#feed || this.#starting || this.#closed || this.#subs.size === 0) return;
    this.#refused = false;
    this.#starting = true;
    // A first start on a client not started yet: from the replica as it opens (see `opened`).
    if (this.#since === undefined && !this.#options.pinned && !this.#options.dbNow?.()) this.#options = { ...this.#options, pinned: this.#options.opened?.() };
    let started!: () => void;
    let catchUp = false;
    // Only the first start pins a starting point; a restart resumes from the last change seen (nothing is missed).
    const startup = this.#since === undefined ? new Promise<void>((resolve) => (started = resolve)) : undefined;
    if (startup) this.#startup = startup;
    const done = () => {
      this.#live();
      if (!startup) return;
      started();
      if (this.#startup === startup) this.#startup = undefined;
    };
    this.#options
      .db()
      .then(async (db) => {
        if (this.#since === undefined) {
          // (Taken once: a later first subscription, after every one was gone, pins its own.)
          const pinned = this.#options.pinned;
          this.#options = { ...this.#options, pinned: undefined };
          this.#since = await currentSeq(
            db,
            pinned?.catch(() => {
              // Not asked at the call after all: this starting point is later than the subscriptions.
              this.#late = true;
              return db.info();
            }),
          );
          if (this.#late) catchUp = true;
          this.#late = false;
        }
        this.#starting = false;
        if (this.#closed || this.#subs.size === 0 || this.#feed) {
          // Nobody is left to resume for: the next subscription pins its own starting point.
          if (this.#subs.size === 0) {
            this.#since = undefined;
            this.#late = false;
          }
          return done();
        }
        // (`all_docs`: a change lists every leaf, the deleted ones too, which `_conflicts` leaves out.)
        const feed = db.changes({ since: this.#since, live: true, include_docs: true, conflicts: true, style: 'all_docs', timeout: WATCH_POLL_MS, heartbeat: false });
        this.#feed = feed;
        // (First: the reads still waiting for the feed start after its starting point, and need no catch-up.)
        if (catchUp) this.#catchUp();
        done();
        feed.on('change', (change) => {
          this.#failures = 0;
          if (this.#feed === feed) this.#since = change.seq;
          // A document with conflicting leaves waits for its resolution; any other change of it replaces what was held.
          if (change.doc?._conflicts?.length) return this.#hold(change);
          if (this.#held.size) this.#release(change.id);
          const removals = removalsOf(change);
          if (removals.length > 0) return this.#checkRemovals(db, change, removals);
          this.#queue(change);
        });
        // A feed that ends without being cancelled here (its database was reopened) starts again.
        feed.on('complete', () => {
          if (this.#feed !== feed || this.#closed) return;
          this.#feed = undefined;
          this.#scheduleRestart();
        });
        feed.on('error', (error) => {
          if (this.#feed !== feed) return;
          this.#feed = undefined;
          this.#failed(error);
        });
      })
      .catch((error: unknown) => {
        this.#starting = false;
        // No starting point yet, nor one asked for at the call (remote mode; local-first pins the replica as it opened):
        // the one a later start takes comes after the subscriptions (see #catchUp). (None left: the next pins its own.)
        if (this.#since === undefined && !this.#options.pinned && this.#subs.size > 0) this.#late = true;
        done();
        this.#failed(error, true);
      });
  }

  /**
   * The feed's starting point came later than the subscriptions made before it (the database could not be reached
   * when they were made: a remote client started while the server was down): a change made in between would never be
   * reported. Each of them is told the current values instead (as `{ initial: true }` delivers them, marked
   * `current`), then the changes from the starting point; one reading already (it may have started before the starting
   * point) reads again once answered; one whose read is yet to start is left as it is.
   */
  #catchUp(): void {
    for (const sub of this.#subs) {
      if (!sub.read) continue;
      if (sub.reading) sub.again = true;
      else if (sub.held === undefined && sub.retry === undefined) sub.read(true);
    }
  }

  #queue(change: Change): void {
    this.#chain = this.#chain.then(() => this.#dispatch(change)).catch((error: unknown) => this.#options.onError(toFeatError(error)));
  }

  /**
   * Holds `change` (its document has conflicting leaves) and has them resolved; the resolution's revision, or any other
   * change of the document, replaces it. Delivered as it is when nothing came within HOLD_MS or resolving failed.
   * `resolve: false`: not asked yet (see #checkRemovals); asked once per hold.
   */
  #hold(change: Change, resolve = true): void {
    const id = change.id;
    let held = this.#held.get(id);
    if (held) held.change = change;
    else {
      // Only what a subscription reports is held (and resolved): the rest goes on as any change.
      const part = parsePartId(id);
      if (id.startsWith('_') || id.startsWith(INTERNAL_PREFIX) || ![...this.#subs].some((sub) => eventFor(sub, id, part))) return this.#queue(change);
      // A new key stays an insert when its resolution (a later generation) comes.
      if (change.doc!._rev?.startsWith('1-') && !this.#reported.has(id)) this.#deleted.add(id);
      held = { change, timer: setTimeout(() => this.#release(id, true), HOLD_MS) };
      this.#held.set(id, held);
    }
    const resolver = this.#options.resolve;
    if (!resolve || held.asked || !resolver) return;
    held.asked = true;
    this.#resolving(() => resolver(id)).catch(() => this.#release(id, true));
  }

  /**
   * `change` shows a live winner with deleted leaves next to it (`removals`: another device removed the key on another
   * branch — its history was stemmed, or both wrote at once). CouchDB picks the live leaf whatever the times, but a
   * later removal beats an earlier concurrent write (resolve-leaves.ts): then the change is held for its resolution,
   * as a conflict is (shown, the watch would report a value already removed, then the removal). Leaves not looked at
   * yet are read first (one request for them), the change held meanwhile (at most HOLD_MS, as any hold); an older
   * removal lets it go at once.
   */
  #checkRemovals(db: Db, change: Change, removals: string[]): void {
    const id = change.id;
    const at = decode(change.doc!).updatedAt;
    const later = () => removals.some((rev) => (this.#removedAt.get(`${id} ${rev}`) ?? 0) > at);
    const unread = removals.filter((rev) => !this.#removedAt.has(`${id} ${rev}`));
    if (unread.length === 0) return later() ? this.#hold(change) : this.#queue(change);
    this.#hold(change, false);
    // (Not held: no subscription reports it.)
    if (this.#held.get(id)?.change !== change) return;
    const stillHeld = () => this.#held.get(id)?.change === change;
    // (A few at a time, as resolutions: a burst of such documents does not open a connection each.)
    this.#resolving(() => db.get(id, { open_revs: unread })).then(
      (answer) => {
        const found = new Map((answer as unknown as { ok?: StoredDoc }[]).flatMap((l) => (l.ok?._rev ? [[l.ok._rev, decode(l.ok).updatedAt] as const] : [])));
        // (A leaf the database no longer has is not looked for again: nothing could resolve it either.)
        for (const rev of unread) remember(this.#removedAt, `${id} ${rev}`, found.get(rev) ?? 0, REMOVED_LEAVES);
        if (!stillHeld()) return;
        if (later()) this.#hold(change);
        else this.#release(id, true);
      },
      () => stillHeld() && this.#release(id, true),
    );
  }

  /** Stops holding `id`'s change; `deliver`: it goes out as it is. */
  #release(id: string, deliver?: boolean): void {
    const held = this.#held.get(id);
    if (!held) return;
    clearTimeout(held.timer);
    this.#held.delete(id);
    if (deliver) this.#queue(held.change);
  }

  /**
   * The feed failed: reported, and started again later — unless the replica is gone (its guard said so once), or the
   * session was refused (`opening`: db() is the client's ready()). A refused client (another account's replica, refused
   * credentials) started again by its watch would sign in by itself, with backoff, forever — and take the replica
   * over once its owner logged out with destroyLocal. It stays refused until the app calls again ({@link resume}).
   */
  #failed(error: unknown, opening = false): void {
    if (this.#closed) return;
    const failure = toFeatError(error);
    if (failure.code === 'storage_lost') return;
    this.#options.onError(failure);
    if (opening && refused(failure)) this.#refused = true;
    else this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#retry || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#start();
    }, backoff(this.#failures++));
  }

  #stop(): Promise<void> {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    const feed = this.#feed;
    this.#feed = undefined;
    // With no subscription left, the next one starts from its own time.
    if (this.#subs.size === 0) {
      this.#since = undefined;
      this.#late = false;
      this.#reported.clear();
      this.#own.clear();
      this.#held.forEach((held) => clearTimeout(held.timer));
      this.#held.clear();
    }
    if (!feed) return Promise.resolve();
    feed.cancel();
    return within(Promise.resolve(feed).then(() => undefined, () => undefined), 2_000).then(() => undefined);
  }

  async #dispatch(change: Change): Promise<void> {
    const id = change.id;
    if (id.startsWith('_') || id.startsWith(INTERNAL_PREFIX) || !change.doc) return;
    const rev = revOf(change);
    if (rev !== '' && this.#reported.get(id) === rev) return;
    const part = parsePartId(id);
    // This client's write of `id` on its way: its revision (and whether this change is it) is known once it has its
    // answer — a change can reach the feed first (a real server answers the long-poll before the write).
    if (!this.#options.isOwn(id, rev) && [...this.#subs].some((sub) => eventFor(sub, id, part))) {
      await this.#options.writing?.(id)?.catch(() => undefined);
    }
    // The client's own revisions the feed went past (it shows only the latest) come first, in the order stored.
    const own = this.#own.get(id);
    if (own) {
      const gen = generation(rev);
      const later = own.filter((c) => generation(revOf(c)) > gen);
      if (later.length > 0) this.#own.set(id, later);
      else this.#own.delete(id);
      for (const c of own) if (generation(revOf(c)) <= gen && revOf(c) !== rev) await this.#report(c);
    }
    await this.#report(change);
  }

  /** Reports one revision of a document to the subscriptions it matches (each revision once). */
  async #report(change: Change): Promise<void> {
    const id = change.id;
    const doc = change.doc!;
    const rev = revOf(change);
    if (rev !== '' && this.#reported.get(id) === rev) return;
    if (rev !== '') remember(this.#reported, id, rev, REPORTED_IDS);
    // A value already expired when its change arrives (a short `ttl`, a writer whose clock runs behind) reads as a
    // deletion: `value` is undefined only for a delete.
    const decoded = change.deleted === true || doc._deleted === true ? undefined : decode(doc);
    const deleted = !decoded || isExpired(decoded);
    let kind: ChangeEvent['kind'];
    if (deleted) kind = 'delete';
    else if (rev.startsWith('1-') || this.#deleted.has(id)) kind = 'insert';
    else kind = 'update';
    this.#deleted.delete(id);
    if (deleted) {
      this.#deleted.add(id);
      if (this.#deleted.size > REPORTED_IDS) this.#deleted.delete(this.#deleted.values().next().value!);
    }
    const part = parsePartId(id);
    const matching = [...this.#subs].flatMap((sub) => {
      const target = eventFor(sub, id, part);
      return target ? [{ sub, target }] : [];
    });
    if (matching.length === 0) return;
    let value: unknown;
    if (decoded && !deleted) value = this.#options.reassemble ? await this.#options.reassemble(change) : decoded.value;
    const own = this.#options.isOwn(id, rev) || (this.#options.lostOwn?.(id, doc) ?? false);
    // Another device's revision that this client's own later write already replaced (e.g. a remote-mode write that met
    // it as a conflict and was written over it): its value is stale, and reporting it after the write settled would
    // let a listener apply it over the newer value, whose own event says 'local'. The newer write's event follows.
    if (!own && this.#options.supersededByOwn?.(id, rev)) return;
    const origin = own ? 'local' : 'remote';
    for (const { sub, target } of matching) this.#deliver(sub, { ...target, value, kind, origin }, id, rev);
  }
}

/** How long a change of a document with conflicting leaves waits for the resolution's revision. */
const HOLD_MS = 2_000;

/** How many ids' last reported revisions a watch keeps (to drop a revision the feed carries twice). */
const REPORTED_IDS = 10_000;

/** How many deleted leaves' times a watch keeps (see ChangeWatcher.#removedAt). */
const REMOVED_LEAVES = 10_000;

/**
 * The deleted leaves next to a change's live winner (`style: 'all_docs'` lists every leaf; `_conflicts`, the live
 * ones): none for a removal, or for a change that lists only its winner.
 */
function removalsOf(change: Change): string[] {
  const doc = change.doc;
  if (!doc?._rev || doc._deleted === true || change.deleted === true || change.changes.length < 2) return [];
  const live = new Set([doc._rev, ...(doc._conflicts ?? [])]);
  return change.changes.flatMap(({ rev }) => (live.has(rev) ? [] : [rev]));
}

/** How many of the client's own unreported revisions a watch keeps per id (the oldest go first). */
const OWN_PER_ID = 100;

/** A change's revision (`''` when it names none). */
const revOf = (change: Change): string => change.doc?._rev ?? change.changes[0]?.rev ?? '';

/** A revision's generation (the number before its `-`). */
const generation = (rev: string): number => Number.parseInt(rev, 10) || 0;

/** The database's current sequence, bounded in time. */
async function currentSeq(db: Db, asked: Promise<{ update_seq?: unknown }> = db.info()): Promise<number | string> {
  const info = await within(asked, START_TIMEOUT_MS);
  if (info === LATE) throw new FeatError('timeout', `The database did not answer within ${START_TIMEOUT_MS} ms; watch retries`);
  const seq = info.update_seq;
  return typeof seq === 'number' || typeof seq === 'string' ? seq : 'now';
}
