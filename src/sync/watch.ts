import { toFeatError, type FeatError } from '../errors.js';
import { decode, isExpired } from '../store/codec.js';
import type { Change, ChangesFeed, Db } from '../store/db.js';
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
}

export interface WatchSource {
  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void): () => void;
}

interface Subscription {
  prefix: string;
  listener: (event: ChangeEvent) => void;
}

export interface ChangeWatcherOptions {
  db(): Promise<Db>;
  /** True when this client wrote `rev` of `id`. */
  isOwn(id: string, rev: string): boolean;
  /** Turns a stored document into the value readers see (chunked values are reassembled). */
  reassemble?(change: Change): Promise<unknown>;
  onError(error: FeatError): void;
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

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void): () => void {
    const sub = { prefix: keyOrPrefix, listener };
    this.#subs.add(sub);
    this.#start();
    return () => {
      this.#subs.delete(sub);
      if (this.#subs.size === 0) void this.#stop();
    };
  }

  /** Stops the feed; resolves when it has finished (so the database can be closed safely). */
  close(): Promise<void> {
    this.#closed = true;
    this.#subs.clear();
    return this.#stop();
  }

  #start(): void {
    if (this.#feed || this.#starting || this.#closed || this.#subs.size === 0) return;
    this.#starting = true;
    this.#options
      .db()
      .then((db) => {
        this.#starting = false;
        if (this.#closed || this.#subs.size === 0 || this.#feed) return;
        const feed = db.changes({ since: 'now', live: true, include_docs: true, timeout: false, heartbeat: 10_000 });
        this.#feed = feed;
        // Events are delivered in order even when a value needs async work to reassemble.
        let chain = Promise.resolve();
        feed.on('change', (change) => {
          this.#failures = 0;
          chain = chain.then(() => this.#dispatch(change)).catch((error: unknown) => this.#options.onError(toFeatError(error)));
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
          if (this.#closed) return;
          this.#options.onError(toFeatError(error));
          this.#scheduleRestart();
        });
      })
      .catch((error: unknown) => {
        this.#starting = false;
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
    for (const sub of matching) {
      if (!this.#subs.has(sub)) continue;
      const event: ChangeEvent =
        id === sub.prefix
          ? { key: id, value, kind, origin }
          : id.startsWith(sub.prefix + ':')
            ? { key: sub.prefix, subkey: id.slice(sub.prefix.length + 1), value, kind, origin }
            : { key: id, value, kind, origin };
      try {
        sub.listener(value === undefined ? event : { ...event, value: structuredClone(value) });
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
