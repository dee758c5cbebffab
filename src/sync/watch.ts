import { toFeatError, type FeatError } from '../errors.js';
import { decode, isExpired } from '../store/codec.js';
import type { Change, ChangesFeed, Db } from '../store/db.js';
import type { StoreIO } from '../store/io.js';
import { INTERNAL_PREFIX } from '../store/validate.js';

export interface ChangeEvent<T = unknown> {
  /** The watched key (for a part: the key it belongs to). */
  key: string;
  /** For a `key:subkey` part: the subkey. */
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
  /** Where a failed read goes (else to the watcher's `onError`). */
  onError?: ((error: FeatError) => void) | undefined;
}

export interface WatchSource {
  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void;
}

interface Subscription {
  prefix: string;
  listener: (event: ChangeEvent) => void;
  /** Changes held back while the current values are read (they come first). */
  held?: ChangeEvent[] | undefined;
}

export interface ChangeWatcherOptions {
  db(): Promise<Db>;
  /** True when this client wrote `rev` of `id`. */
  isOwn(id: string, rev: string): boolean;
  /** Turns a stored document into the value readers see (chunked values are reassembled). */
  reassemble?(change: Change): Promise<unknown>;
  onError(error: FeatError): void;
}

/** The event a watch of `prefix` gets for a change of `id`: a part of the watched key names its subkey. */
export function eventFor(prefix: string, id: string, value: unknown, kind: ChangeEvent['kind'], origin: ChangeEvent['origin']): ChangeEvent {
  return id === prefix
    ? { key: id, value, kind, origin }
    : id.startsWith(prefix + ':')
      ? { key: prefix, subkey: id.slice(prefix.length + 1), value, kind, origin }
      : { key: id, value, kind, origin };
}

/** Turns the database's live changes feed into {@link ChangeEvent}s for the subscribed keys and prefixes. */
export class ChangeWatcher implements WatchSource {
  #options: ChangeWatcherOptions;
  #subs = new Set<Subscription>();
  #feed: ChangesFeed | undefined;
  #starting = false;
  #deleted = new Set<string>();
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  /** Current reads waiting for the feed to be live. */
  #waiting = new Set<() => void>();
  /** The last sequence the feed reported: a restarted feed resumes from it, so no change is missed. */
  #since: unknown;

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void {
    const sub: Subscription = { prefix: keyOrPrefix, listener, held: current && [] };
    this.#subs.add(sub);
    // The read starts once the feed is live (or failed to start: it retries on its own; the read is tried all the same).
    const read = () =>
      this.#subs.has(sub) &&
      import('../store/current.js')
        .then((m) => m.currentEvents(current!.io, keyOrPrefix))
        .catch((error: unknown) => {
          if (this.#subs.has(sub)) (current!.onError ?? this.#options.onError)(toFeatError(error));
          return [];
        })
        .then((events) => {
          const held = sub.held ?? [];
          sub.held = undefined;
          [...events, ...held].forEach((event) => this.#deliver(sub, event));
        });
    if (current && this.#feed) queueMicrotask(read);
    else if (current) this.#waiting.add(read);
    this.#start();
    return () => {
      this.#waiting.delete(read);
      this.#subs.delete(sub);
      if (this.#subs.size === 0) void this.#stop();
    };
  }

  #live(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    waiting.forEach((read) => read());
  }

  #deliver(sub: Subscription, event: ChangeEvent): void {
    if (!this.#subs.has(sub)) return;
    if (sub.held) return void sub.held.push(event);
    try {
      sub.listener(event.value === undefined ? event : { ...event, value: structuredClone(event.value) });
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Stops the feed; resolves when it has finished (so the database can be closed safely). */
  close(): Promise<void> {
    this.#closed = true;
    this.#subs.clear();
    this.#waiting.clear();
    return this.#stop();
  }

  #start(): void {
    if (this.#feed || this.#starting || this.#closed || this.#subs.size === 0) return;
    this.#starting = true;
    this.#options
      .db()
      // From a known sequence (not 'now', which the feed resolves later): once it starts, no change is missed.
      .then(async (db) => [db, this.#since ?? (await db.info()).update_seq] as const)
      .then(([db, since]) => {
        this.#starting = false;
        if (this.#closed || this.#subs.size === 0 || this.#feed) return;
        const feed = db.changes({ since, live: true, include_docs: true, timeout: false, heartbeat: 10_000 });
        this.#feed = feed;
        this.#live();
        // Events are delivered in order even when a value needs async work to reassemble.
        let chain = Promise.resolve();
        feed.on('change', (change) => {
          this.#failures = 0;
          this.#since = change.seq;
          chain = chain.then(() => this.#dispatch(change)).catch((error: unknown) => this.#options.onError(toFeatError(error)));
        });
        feed.on('error', (error) => {
          if (this.#feed !== feed) return;
          this.#feed = undefined;
          if (this.#closed) return;
          this.#options.onError(toFeatError(error));
          this.#scheduleRestart();
        });
      })
      .catch((error: unknown) => {
        this.#starting = false;
        this.#live();
        if (this.#closed) return;
        this.#options.onError(toFeatError(error));
        this.#scheduleRestart();
      });
  }

  #scheduleRestart(): void {
    if (this.#retry || this.#closed) return;
    const delay = Math.min(30_000, 500 * 2 ** this.#failures++);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#start();
    }, delay);
  }

  #stop(): Promise<void> {
    // Stopped for good (no subscriber left, or closed): the next feed starts from then, not from here.
    this.#since = undefined;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    const feed = this.#feed;
    this.#feed = undefined;
    if (!feed) return Promise.resolve();
    feed.cancel();
    return Promise.race([
      Promise.resolve(feed).then(() => undefined, () => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref?.()),
    ]);
  }

  async #dispatch(change: Change): Promise<void> {
    const id = change.id;
    if (id.startsWith('_') || id.startsWith(INTERNAL_PREFIX) || !change.doc) return;
    const doc = change.doc;
    const rev = doc._rev ?? change.changes[0]?.rev ?? '';
    const deleted = change.deleted === true || doc._deleted === true;
    let kind: ChangeEvent['kind'];
    if (deleted) kind = 'delete';
    else if (rev.startsWith('1-') || this.#deleted.has(id)) kind = 'insert';
    else kind = 'update';
    if (deleted) this.#deleted.add(id);
    else this.#deleted.delete(id);
    const matching = [...this.#subs].filter((s) => id === s.prefix || id.startsWith(s.prefix));
    if (matching.length === 0) return;
    let value: unknown;
    if (!deleted) {
      const decoded = decode(doc);
      value = isExpired(decoded) ? undefined : this.#options.reassemble ? await this.#options.reassemble(change) : decoded.value;
    }
    const origin = this.#options.isOwn(id, rev) ? 'local' : 'remote';
    for (const sub of matching) this.#deliver(sub, eventFor(sub.prefix, id, value, kind, origin));
  }
}
