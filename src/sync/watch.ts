import { FeatError, toFeatError } from '../errors.js';
import { decode, isExpired } from '../store/codec.js';
import type { Change, ChangesFeed, Db } from '../store/db.js';
import { INTERNAL_PREFIX } from '../store/validate.js';
import { parsePartId } from '../store/ids.js';

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
}

/**
 * What a subscription reports: a string or `{ key }`, the key itself and its parts (`getParts(key)`), nothing else;
 * `{ prefix }`, every key that starts with `prefix` and the parts of those keys.
 */
export type WatchTarget = string | { key: string } | { prefix: string };

export interface WatchSource {
  subscribe(target: { key: string } | { prefix: string }, listener: (event: ChangeEvent) => void): () => void;
  /**
   * Resolves once every subscription made so far reports the changes made from now on (its feed has its starting
   * point), or after `ms`, or when starting failed. Writes wait for it, so a subscription sees the client's own writes.
   */
  started(ms: number): Promise<void>;
}

type Subscription = ({ key: string; prefix?: undefined } | { prefix: string; key?: undefined }) & {
  listener: (event: ChangeEvent) => void;
};

/** The event `sub` gets for a change of `id` (`part`: the key and subkey `id` names as a part); `undefined`: none. */
function eventFor(sub: Subscription, id: string, part: { key: string; subkey: string } | undefined) {
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
  /** Where the feed (re)starts: the sequence when the first subscription came, then the last change seen. */
  #since: number | string | undefined;
  /** Settles when the feed has its starting point (pending only while the first subscription's feed starts). */
  #startup: Promise<void> | undefined;

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(target: { key: string } | { prefix: string }, listener: (event: ChangeEvent) => void): () => void {
    const sub: Subscription = 'key' in target ? { key: target.key, listener } : { prefix: target.prefix, listener };
    this.#subs.add(sub);
    this.#start();
    return () => {
      this.#subs.delete(sub);
      if (this.#subs.size === 0) void this.#stop();
    };
  }

  started(ms: number): Promise<void> {
    const startup = this.#startup;
    if (!startup) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void startup.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
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
    let started!: () => void;
    // Only the first start pins a starting point; a restart resumes from the last change seen (nothing is missed).
    const startup = this.#since === undefined ? new Promise<void>((resolve) => (started = resolve)) : undefined;
    if (startup) this.#startup = startup;
    const done = () => {
      if (!startup) return;
      started();
      if (this.#startup === startup) this.#startup = undefined;
    };
    this.#options
      .db()
      .then(async (db) => {
        if (this.#since === undefined) this.#since = await currentSeq(db);
        this.#starting = false;
        if (this.#closed || this.#subs.size === 0 || this.#feed) {
          // Nobody is left to resume for: the next subscription pins its own starting point.
          if (this.#subs.size === 0) this.#since = undefined;
          return done();
        }
        const feed = db.changes({ since: this.#since, live: true, include_docs: true, timeout: false, heartbeat: 10_000 });
        this.#feed = feed;
        done();
        // Events are delivered in order even when a value needs async work to reassemble.
        let chain = Promise.resolve();
        feed.on('change', (change) => {
          this.#failures = 0;
          if (this.#feed === feed) this.#since = change.seq;
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
        done();
        if (this.#closed) return;
        this.#options.onError(toFeatError(error));
        this.#scheduleRestart();
      });
  }

  #scheduleRestart(): void {
    if (this.#retry || this.#closed) return;
    // Exponential backoff with jitter (50–100 % of the step), so clients that lost the server together come back apart.
    const delay = Math.min(30_000, 500 * 2 ** this.#failures++) * (0.5 + Math.random() / 2);
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
    // With no subscription left, the next one starts from its own time.
    if (this.#subs.size === 0) this.#since = undefined;
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
    const part = parsePartId(id);
    const matching = [...this.#subs].flatMap((sub) => {
      const target = eventFor(sub, id, part);
      return target ? [{ sub, target }] : [];
    });
    if (matching.length === 0) return;
    let value: unknown;
    if (!deleted) {
      const decoded = decode(doc);
      value = isExpired(decoded) ? undefined : this.#options.reassemble ? await this.#options.reassemble(change) : decoded.value;
    }
    const origin = this.#options.isOwn(id, rev) ? 'local' : 'remote';
    for (const { sub, target } of matching) {
      if (!this.#subs.has(sub)) continue;
      const event: ChangeEvent = { ...target, value, kind, origin };
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

/** The database's current sequence, bounded in time. */
async function currentSeq(db: Db): Promise<number | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FeatError('timeout', `The database did not answer within ${START_TIMEOUT_MS} ms; watch retries`)), START_TIMEOUT_MS);
  });
  try {
    const info = await Promise.race([db.info(), timeout]);
    // The server's database answers an empty info when it cannot be reached (see openRemote): try again later.
    if (info.unavailable === true) throw new FeatError('network', 'The database could not be reached; watch retries');
    const seq = info.update_seq;
    return typeof seq === 'number' || typeof seq === 'string' ? seq : 'now';
  } finally {
    clearTimeout(timer);
  }
}
