import { closedError, FeatConflictError, FeatError, FeatValidationError, readable, toFeatError } from '../errors.js';
import { hashString } from '../util/hash.js';
import { utf8Bytes } from '../transport/responses.js';
import { decode, encode, expiryTag, inlineLimit, isExpired, isWriteOf, jsonOf, type ChunkDoc, type StoredDoc, type WriteOp } from './codec.js';
import type { Conflict, ConflictResolver } from './conflicts.js';
import type { BulkResult, Db } from './db.js';
import { RevCache, tick } from './rev-cache.js';
import { INTERNAL_PREFIX, snapshotValue, validateKey, validateSubkey, wellFormed } from './validate.js';
import { WriteQueue } from './write-queue.js';
import { parentOf, randomId, stamp, type Parent } from './lineage.js';
import type { ChangeEvent, WatchSource, WatchTarget } from '../sync/watch.js';
import { idTooLong, PART_SEPARATOR, parsePartId, partId } from './ids.js';
import { dotSafe } from './dot-ids.js';
import type { StoreIO } from './io.js';
import type * as ResolveWriteModule from './resolve-write.js';
import { checkIndex, planQuery, type IndexSpec, type Query, type QueryResult } from '../query/validate.js';
import type * as FindModule from '../query/find.js';
import type { FindOptions } from '../query/find.js';
import type { WatchQueryOptions } from '../query/live.js';
import { lazy } from '../util/lazy.js';
import { limiter } from '../util/limit.js';
import { remember } from '../util/remember.js';
import { lockChunks, readReplica, underLock } from '../util/chunk-lock.js';
import { checkSignal, throwIfAborted, withSignal } from '../util/abort.js';
import { stringify } from '../util/json.js';
import { calledByResolver } from './resolver-calls.js';
import type { SettleDeps } from './settle.js';

// Loaded on first use (code-split), each once.
const loadChunks = lazy(() => import('./chunks.js'));
const loadParts = lazy(() => import('./parts.js'));
const loadRanges = lazy(() => import('./ranges.js'));
const loadLookUp = lazy(() => import('./look-up.js'));
const loadResolveWrite = lazy(() => import('./resolve-write.js'));
const loadGc = lazy(() => import('./gc.js'));
const loadSettle = lazy(() => import('./settle.js'));

/**
 * A store call's `signal`: aborting it rejects the call with `aborted` (`cause` = the signal's reason) at once, and an
 * already aborted one starts nothing. A read just ends; a write the call already queued is still written (see the
 * README's store section), like a `fetch` aborted after it was sent.
 */
export interface SignalOptions {
  signal?: AbortSignal | undefined;
}

export interface SetOptions extends SignalOptions {
  /** Time to live in ms: the value reads as `undefined` once this long has passed since the write. */
  ttl?: number | undefined;
}

export interface WatchOptions {
  /**
   * Deliver what is stored now first (events with `current: true`; a stored value as `kind: 'insert'`, `origin:
   * 'local'`), then every later change, in order and with no gap between the two. @default false
   */
  initial?: boolean | undefined;
  /** The same as `initial` (its earlier name). @default false */
  current?: boolean | undefined;
  /** Called when reading the current values fails; without it the failure goes to `client.sync.on('error')`. */
  onError?: ((error: FeatError) => void) | undefined;
  /**
   * With `initial`: called once the current values are all delivered (none when nothing is stored under a prefix),
   * before any later change.
   */
  onCurrent?: (() => void) | undefined;
}

export interface SetPartsOptions extends SignalOptions {
  /** Delete the parts of `key` that are not in `parts`. @default false */
  replace?: boolean | undefined;
}

/** A conflict and how it was resolved, as emitted on `client.sync.on('conflict')`. */
export interface ConflictEvent<T = unknown> extends Conflict<T> {
  /** The value that was kept (`undefined`: the key is deleted). */
  resolved: T | undefined;
  /** `'write'`: a write met a newer server version (409); `'replication'`: two devices' revisions met. */
  source: 'write' | 'replication';
}

export interface StoreContext {
  /** The database to use; waits for `ready()`. Rejects with `closed` after close. */
  db(): Promise<Db>;
  /** The database when it is open and ready (a write skips a promise hop), else `undefined`. */
  dbNow?(): Db | undefined;
  onConflict: ConflictResolver | undefined;
  conflictRetries: number;
  revCacheSize: number;
  maxDocumentBytes: number;
  maxRequestBytes: number;
  /** How long a read waits for chunks that replication has not brought yet. */
  chunkWaitMs: number;
  /** Batches in flight at once (remote: a few; local: one). */
  concurrency: number;
  emitConflict(event: ConflictEvent): void;
  /** Records revisions this client wrote (so watch can tell local from remote changes); `deleted` for a deletion. */
  wrote(id: string, rev: string, deleted?: boolean): void;
  /** True when this client wrote `rev` of `id`. */
  isOwn(id: string, rev: string): boolean;
  /**
   * Remote mode: this client's last write of `id` was its removal. A read of many documents (`_all_docs`, which lists
   * no deleted leaf) that finds it live reads it as `get()` does: another device's older branch may have become the
   * server's winner over the removal.
   */
  removedHere?(id: string): boolean;
  /** Such a read was made (and resolved what it met): the id is looked at as any other from now on. */
  removalRead?(id: string): void;
  /** The database is the local replica (local-first), not the server. */
  local: boolean;
  /** close() was called: new calls reject with `closed` (calls made before it still complete). */
  closing(): boolean;
  /** Aborted when the client closes (after its writes were flushed): calls still running end with `closed`. */
  closed?: AbortSignal;
  watch: WatchSource;
  /** The number of queued writes may have changed. */
  queueChanged?(): void;
  /** Where a failure with no other place to go is reported (`client.sync.on('error')`). */
  reportError?(error: FeatError): void;
  /** The client's `indexes` option (checked). */
  indexes: readonly IndexSpec[];
  /** False while the database may lack values the server has (a local replica before a complete first pull). */
  complete?(): Promise<boolean>;
  /**
   * Local-first: the server's database and the sequence the replica holds everything up to, once live sync's pull is
   * caught up and running; `undefined` otherwise (offline, paused, catching up, another tab leads).
   */
  server?(): Promise<{ db: Db; since: string | number } | undefined> | undefined;
  /** Local-first: sync is connected (`idle` or `active`, this tab's or the leading tab's): the replica is not cut off. */
  connected?(): boolean;
  /** Local-first: the resolution under way of conflicting leaves a pull brought for `id` (settled either way), if any. */
  resolution?(id: string): Promise<void> | undefined;
}

/** The store's hidden `[COMPLETE]()`: see `StoreContext.complete` (the redux engine's never-clobber rule). */
export const COMPLETE: unique symbol = Symbol.for('@feat/sdk.complete');

/**
 * A hidden `set()` option: the time (ms) the write is stamped with, when earlier than now (it bounds a `ttl` too). The
 * redux engine writes a slice's initial state with the time 0, a default: under the default resolver any version
 * another device stored wins over it (on the server and between replicas alike), and a deletion never does
 * (resolve-write.ts `decide`).
 */
export const AS_OF: unique symbol = Symbol.for('@feat/sdk.asOf');

/**
 * Hidden, for the redux engine, whose writes are decided after its call (in call order, maybe after a read):
 * `store[DECIDING](decide)` runs `decide` as a write made now. While it runs, `set()`/`remove()` given
 * `{ [DECIDING]: true }`, and `get()`/`getParts()`, are taken even once close() started, and `flush()` (close()'s too)
 * waits for their writes.
 */
export const DECIDING: unique symbol = Symbol.for('@feat/sdk.deciding');

/** The reads a decision may make ({@link DECIDING}): taken too while one runs. */
const READ = { [DECIDING]: true };

/** Conflicted writes resolved at once (each is a read and a write on the server; see `#resolving`). */
const RESOLVING_AT_ONCE = 6;
/** Writes whose answer was lost, remembered to recognise them on the server (store.ts `#unanswered`). */
const LOST_KEPT = 1_000;
/** Documents whose deleted leaves were looked at (remote mode, `#read`): kept for this many documents. */
const DELETED_SEEN_MAX = 1_000;

/** How long a write waits for a watch subscription made before it to start its feed (so the feed sees the write). */
const WATCH_START_WAIT_MS = 10_000;


function hashOf(op: WriteOp): string {
  return op.deleted ? 'deleted' : hashString(jsonOf(op)) + expiryTag(op.expiresAt);
}

/** Content hashes are compared only for parts (`planSetParts`): an id with no `:` after its first character is none. */
const mayBePart = (id: string): boolean => id.lastIndexOf(':') > 0;

/**
 * A call's options object (absent: `{}`), copied once: a getter or a Proxy trap that throws is `invalid_argument` with it
 * as `cause`, and nothing reads the caller's object again later.
 */
export const checkOptions = (options: unknown, call: string): Record<string | symbol, unknown> =>
  readable(() => {
    if (options === undefined) return {};
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new FeatValidationError('invalid_argument', `${call}() takes an options object`);
    }
    return { ...options };
  }, `The ${call}() options`);

/** The `signal` of a call's checked options: not an AbortSignal → `invalid_argument`. */
const signalOf = (opts: Record<string | symbol, unknown>): AbortSignal | undefined => {
  const { signal } = opts;
  checkSignal(signal);
  return signal;
};

/**
 * A read (or flush): `check()` validates the call (a throw rejects it) and gives its signal; `work` is raced against
 * it — `aborted` at once when it fires, its listener removed either way (one per call); an already aborted signal
 * starts nothing. Without a signal the call is `work`'s promise itself (no promise hop more than before signals).
 */
const abortable = <T>(check: () => AbortSignal | undefined, work: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> => {
  try {
    const signal = check();
    throwIfAborted(signal);
    // (Every failure typed, whatever path it took: a body cut mid-read is fetch's TypeError.)
    return withSignal(
      work(signal).catch((error: unknown) => {
        throw toFeatError(error);
      }),
      signal,
    );
  } catch (error) {
    return Promise.reject(error);
  }
};

/**
 * The document store: validation → write queue (coalescing per key) → codec → database → conflict resolution.
 * Works the same over the local replica (local-first) and over the server's database (remote).
 */
export class DocumentStore {
  #ctx: StoreContext;
  #known: RevCache;
  #queue: WriteQueue<WriteOp>;
  /** Parts calls still planning (looking up stored parts), per key: later writes to those parts wait for them. */
  #reserved = new Map<string, Promise<void>>();
  /** Parts calls (and writes ordered after them) not settled yet, as their callers see them (flush()). */
  #orderedCalls = new Set<Promise<void>>();
  /**
   * Writes to the server whose answer never came (`network`/`timeout` after the request went): they may have landed
   * (see `#unanswered`). Bounded (the oldest go first).
   */
  #answerLost = new Map<string, WriteOp>();
  /** Per document, the winner and deleted leaves last found to hold no later removal (remote mode, `#read`). */
  #deletedSeen = new Map<string, string>();
  /**
   * Per document, what the store last knew of a revision it wrote or read (its lineage marks), for the next write on
   * top of it (lineage.ts `stamp`). Bounded like the revisions; a revision not found here is written on as one of an
   * unknown writer.
   */
  #lineage = new Map<string, Parent>();
  /** This writer's id (lineage.ts): one per client, never kept. */
  #writer = randomId();
  #inline: number;

  /** What the modules loaded on demand (parts, conflict resolution) use of the store. */
  #io: StoreIO;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#io = {
      ctx,
      db: () => this.#db(),
      allDocs: (db, options, key) => this.#allDocs(db, options, key),
      read: (db, id, seen, settle, signal, byResolver) => this.#read(db, id, seen, signal, settle, byResolver),
      valueOf: (db, doc) => this.valueOf(db, doc),
      chunkIfLarge: (db, id, op) => this.chunkIfLarge(db, id, op),
      stored: (id, rev, op, seen) => this.#stored(id, rev, op, seen),
      queue: () => this.#queue,
      known: () => this.#known,
      hashOf,
      unanswered: (id, raw) => this.#unanswered(id, raw),
    };
    this.#inline = inlineLimit(ctx.maxDocumentBytes, ctx.maxRequestBytes);
    this.#known = new RevCache(ctx.revCacheSize);
    this.#queue = new WriteQueue<WriteOp>((batch) => this.#writeBatch(batch), {
      maxBatch: 500,
      maxConcurrent: ctx.concurrency,
      changed: ctx.queueChanged,
    });
  }

  /**
   * Reads a value; `undefined` when absent, deleted or expired. Sees this client's own unwritten values. `signal` ends
   * the call's wait (`aborted`).
   */
  get<T = unknown>(key: string, options?: SignalOptions): Promise<T | undefined> {
    // Called from the body of the key's own resolver (resolving.ts): answered the winner, not waited for.
    const byResolver = typeof key === 'string' && calledByResolver(this.#ctx.closed, key);
    return abortable(() => {
      this.#open(READ);
      validateKey(key);
      return signalOf(checkOptions(options, 'get'));
    }, async (signal) => {
      const pending = this.#queue.peek(key);
      if (pending) return (pending.deleted || isExpired(pending) ? undefined : structuredClone(pending.value)) as T | undefined;
      const db = await this.#db();
      // Aborted while the database opened: no read.
      throwIfAborted(signal);
      const raw = await this.#read(db, key, undefined, signal, true, byResolver);
      return raw && ((await this.valueOf(db, raw)) as T | undefined);
    });
  }

  /** The value a stored document holds: `undefined` when deleted or expired (at `now`); chunked values reassembled. */
  async valueOf(db: Db, raw: StoredDoc, now = Date.now()): Promise<unknown> {
    const decoded = decode(raw);
    if (decoded.deleted || isExpired(decoded, now)) return undefined;
    if (!decoded.chunks) return decoded.value;
    const { readChunks } = await loadChunks();
    let json: string;
    try {
      json = await readChunks(db, decoded.chunks, this.#ctx.chunkWaitMs, raw._id, this.#ctx.local);
    } catch (error) {
      // (An answer cut mid-body rejects with fetch's own TypeError: `network`, as every read's failure is told.)
      throw toFeatError(error, { key: raw._id });
    }
    try {
      return JSON.parse(json) as unknown;
    } catch (error) {
      throw new FeatError('bad_response', `The chunks of "${raw._id}" do not form a JSON value`, { key: raw._id, cause: error });
    }
  }

  /**
   * Writes a value; resolves once it (or a later value of the key) is durable. `signal` ends the call's wait, not the
   * write once queued (see {@link SignalOptions}).
   */
  set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    try {
      const opts = checkOptions(options, 'set');
      const signal = signalOf(opts);
      this.#open(opts);
      validateKey(key);
      const ttl = opts.ttl;
      if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)) {
        throw new FeatValidationError('invalid_argument', '"ttl" must be a positive number of milliseconds', { key });
      }
      if (value === undefined) {
        throw new FeatValidationError('invalid_value', `The value of "${key}" is undefined; use remove() to delete a key`, { key });
      }
      const asOf = opts[AS_OF];
      const at = typeof asOf === 'number' && asOf >= 0 ? Math.min(asOf, Date.now()) : Date.now();
      const size = { bytes: 0 };
      // A `ttl` counts from the write (#writeBatch): until then the value has no expiry yet (its own reads see it). A
      // write stamped earlier (AS_OF) keeps its expiry from that time.
      const fromWrite = ttl !== undefined && asOf === undefined;
      const op: WriteOp = { deleted: false, value: snapshotValue(value, key, size), at, seq: tick(), expiresAt: ttl === undefined || fromWrite ? undefined : at + ttl };
      if (fromWrite) op.ttl = ttl;
      op.maxBytes = size.bytes;
      throwIfAborted(signal);
      return withSignal(this.#enqueue(key, op, signal), signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes a key; resolves once the deletion is durable. Removing an absent key succeeds. `signal`: as `set()`'s. */
  remove(key: string, options?: SignalOptions): Promise<void> {
    try {
      // (The redux engine's hidden DECIDING flag comes in the options too.)
      this.#open(options);
      validateKey(key);
      const signal = signalOf(checkOptions(options, 'remove'));
      throwIfAborted(signal);
      return withSignal(this.#enqueue(key, { deleted: true, value: undefined, at: Date.now(), seq: tick() }, signal), signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The string API (redux-persist / localStorage shape): `null` when absent. */
  async getItem(key: string, options?: SignalOptions): Promise<string | null> {
    const value = await this.get(key, options);
    if (value === undefined) return null;
    // Strings round-trip exactly; values written by other apps as JSON are returned serialized.
    // (At any depth: another app's value may nest deeper than JSON.stringify's stack.)
    return typeof value === 'string' ? value : stringify(value);
  }

  setItem(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') {
      return Promise.reject(
        new FeatValidationError('invalid_value', `setItem("${String(key)}") takes a string value; use set() for other values`, {
          ...(typeof key === 'string' ? { key } : {}),
        }),
      );
    }
    return this.set(key, value);
  }

  removeItem(key: string): Promise<void> {
    return this.remove(key);
  }

  /** Every `key:subkey` part of `key`, in one request. `signal` ends the call's wait (`aborted`). */
  getParts<T = unknown>(key: string, options?: SignalOptions): Promise<Record<string, T>> {
    // Called from the body of one of the parts' resolvers: those parts answered as stored, not waited for.
    const byResolver = typeof key === 'string' && calledByResolver(this.#ctx.closed, key + PART_SEPARATOR, true);
    return abortable(() => {
      this.#open(READ);
      validateKey(key);
      return signalOf(checkOptions(options, 'getParts'));
    }, async (signal) => {
      const planning = this.#planning((k) => k === key);
      const { readParts } = await loadParts();
      if (planning.length > 0) await Promise.all(planning);
      throwIfAborted(signal);
      return readParts<T>(this.#io, key, signal, byResolver);
    });
  }

  /** The parts calls still planning (looking up stored parts before they enqueue) on the keys `which` names. */
  #planning(which: (key: string) => boolean): Promise<void>[] {
    if (this.#reserved.size === 0) return [];
    return [...this.#reserved].flatMap(([key, reservation]) => (which(key) ? [reservation] : []));
  }

  /**
   * Writes the parts whose content changed (each its own document and revision); `replace` deletes the others.
   * `signal` ends the call's wait; aborted before the stored parts were looked up, the call writes nothing.
   */
  async setParts<T>(key: string, parts: Record<string, T>, options?: SetPartsOptions): Promise<void> {
    this.#open();
    validateKey(key);
    const opts = checkOptions(options, 'setParts');
    const signal = signalOf(opts);
    const at = Date.now();
    const seq = tick();
    // Validate everything before anything is written: a bad part rejects the whole call.
    const ops = readable(() => {
      // (A null-prototype object is a plain one too, as `set()` takes it.)
      const proto: unknown = typeof parts === 'object' && parts !== null ? Object.getPrototypeOf(parts) : undefined;
      if (typeof parts !== 'object' || parts === null || Array.isArray(parts) || (proto !== Object.prototype && proto !== null)) {
        throw new FeatValidationError('invalid_value', `setParts("${key}") takes a plain object of subkey → value`, { key });
      }
      // A symbol is no subkey: refused, never dropped.
      if (Object.getOwnPropertySymbols(parts).length > 0) {
        throw new FeatValidationError('invalid_key', `setParts("${key}") has a symbol subkey, which cannot be stored: use strings`, { key });
      }
      if (opts.replace !== undefined && typeof opts.replace !== 'boolean') {
        throw new FeatValidationError('invalid_argument', '"replace" must be a boolean', { key });
      }
      return Object.keys(parts).map((subkey) => {
        validateSubkey(key, subkey);
        const id = partId(key, subkey);
        const value = parts[subkey];
        if (value === undefined) {
          throw new FeatValidationError('invalid_value', `The part "${subkey}" of "${key}" is undefined`, { key: id });
        }
        return { id, op: { deleted: false, value: snapshotValue(value, id), at, seq } as WriteOp };
      });
    }, `setParts("${key}")`, 'invalid_value');
    throwIfAborted(signal);
    // The order is reserved now; the lookup and the writes are planned in the parts module, loaded on first use.
    return withSignal(this.#ordered(key, async () => (await loadParts()).planSetParts(this.#io, key, ops, opts.replace === true, at, seq, signal), signal), signal);
  }

  /** Deletes every part of `key`. `signal`: as `setParts()`'s. */
  async removeParts(key: string, options?: SignalOptions): Promise<void> {
    this.#open();
    validateKey(key);
    const signal = signalOf(checkOptions(options, 'removeParts'));
    throwIfAborted(signal);
    const at = Date.now();
    const seq = tick();
    return withSignal(this.#ordered(key, async () => (await loadParts()).planRemoveParts(this.#io, key, at, seq, signal), signal), signal);
  }

  /**
   * Keeps the calls on the parts of `key` in call order: `plan` looks up the stored parts, then enqueues its writes;
   * it runs only after the previous plan for `key` has enqueued, and a later set()/remove() of one of the parts waits
   * for it too. Resolves when the planned writes are durable. A call whose `signal` fired before its turn plans nothing,
   * and one whose lookup failed after it fired queued nothing: its caller has `aborted`, flush() nothing to report.
   */
  #ordered(key: string, plan: () => Promise<Promise<void>[]>, signal: AbortSignal | undefined): Promise<void> {
    const previous = this.#reserved.get(key) ?? Promise.resolve();
    const enqueued = previous.then(() =>
      signal?.aborted
        ? []
        : plan().catch((error: unknown) => {
            if (signal?.aborted) return [];
            throw error;
          }),
    );
    const reservation = enqueued.then(
      () => undefined,
      () => undefined,
    );
    this.#reserved.set(key, reservation);
    void reservation.then(() => {
      if (this.#reserved.get(key) === reservation) this.#reserved.delete(key);
    });
    const done = enqueued.then((writes) => Promise.all(writes)).then(() => undefined);
    // flush() waits for it as it is (its failure included: a lookup of the stored parts that failed is one).
    this.#orderedCalls.add(done);
    void done.then(
      () => this.#orderedCalls.delete(done),
      () => this.#orderedCalls.delete(done),
    );
    return done;
  }

  /**
   * Enqueues a write of one id, after any parts call on the key it is a part of that is still planning (not queued at
   * all when `signal` fired meanwhile).
   */
  #enqueue(id: string, op: WriteOp, signal: AbortSignal | undefined): Promise<void> {
    const key = this.#reserved.size > 0 ? parsePartId(id)?.key : undefined;
    if (key !== undefined && this.#reserved.has(key)) return this.#ordered(key, async () => [this.#queue.enqueue(id, op)], signal);
    return this.#queue.enqueue(id, op);
  }

  /** Keys (including `key:subkey` parts) that start with `prefix`, sorted. `signal` ends the call's wait (`aborted`). */
  keys(prefix = '', options?: SignalOptions): Promise<string[]> {
    return abortable(() => {
      this.#open();
      if (typeof prefix !== 'string' || !wellFormed(prefix)) {
        throw new FeatValidationError('invalid_argument', 'keys(prefix) takes a string prefix without lone UTF-16 surrogates');
      }
      return signalOf(checkOptions(options, 'keys'));
    }, async (signal) => {
      // No key is longer than the limit: nothing to ask (and a request line that long would be refused).
      if (idTooLong(prefix) !== undefined) return [];
      // Parts calls made before this one that are still looking up stored parts: their writes are pending too.
      const planning = this.#planning((key) => (key + ':').startsWith(prefix) || prefix.startsWith(key + ':'));
      const db = await this.#db();
      if (planning.length > 0) await Promise.all(planning);
      throwIfAborted(signal);
      const { prefixRanges, rangeRows } = await loadRanges();
      // This client's writes not stored yet, taken before the read (see pendingUnder).
      const pending = this.#queue.pendingUnder(prefix);
      const rows = await rangeRows((d, o) => this.#allDocs(d, o), db, prefixRanges(prefix), { include_docs: true });
      const keys = new Set<string>();
      const now = Date.now();
      for (const row of rows) {
        if (!row.doc || row.value.deleted || !row.id.startsWith(prefix) || row.id.startsWith('_') || row.id.startsWith(INTERNAL_PREFIX)) continue;
        // Another app's document without a value reads as absent (get()): not a key either.
        const d = decode(row.doc);
        if (!isExpired(d, now) && (d.value !== undefined || d.chunks !== undefined)) keys.add(row.id);
      }
      for (const [id, op] of pending) {
        if (op.deleted || isExpired(op, now)) keys.delete(id);
        else keys.add(id);
      }
      return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    });
  }

  /**
   * Calls `listener` for every change (local and remote) made after this call returns:
   * - `watch(key)` or `watch({ key })`: the key itself and its parts (`getParts(key)`), nothing else;
   * - `watch({ prefix })`: every key starting with `prefix` (and the parts of those keys).
   * With `{ initial: true }`, what is stored now comes first (events marked `current`; a watched key's own last, even
   * when absent; `onCurrent` called after them), then every later change, with no gap between the two.
   */
  watch<T = unknown>(target: WatchTarget, listener: (event: ChangeEvent<T>) => void, options?: WatchOptions): () => void {
    this.#open();
    // An object target is copied once (a getter or a Proxy trap that throws: invalid_argument).
    const t = typeof target === 'object' && target !== null ? checkOptions(target, 'watch') : {};
    const subscription =
      typeof target === 'string'
        ? { key: target }
        : typeof t.key === 'string' && t.prefix === undefined
          ? { key: t.key }
          : typeof t.prefix === 'string' && t.key === undefined
            ? { prefix: t.prefix }
            : undefined;
    if (!subscription) throw new FeatValidationError('invalid_argument', 'watch() takes a key or prefix: a key string (or { key }), or { prefix }');
    if (subscription.key === '') throw new FeatValidationError('invalid_argument', 'watch("") names no key; watch({ prefix: "" }) reports every key');
    // A key set() refuses is never reported: refused at once, as set() refuses it.
    if (subscription.key !== undefined) validateKey(subscription.key);
    // (A prefix no key can start with and a request cannot carry, as keys() refuses it.)
    if (subscription.prefix !== undefined && !wellFormed(subscription.prefix)) {
      throw new FeatValidationError('invalid_argument', 'watch({ prefix }) takes a prefix without lone UTF-16 surrogates');
    }
    if (typeof listener !== 'function') throw new FeatValidationError('invalid_argument', 'watch() takes a listener function');
    const { initial, current, onError, onCurrent } = checkOptions(options, 'watch');
    const bool = (v: unknown) => v === undefined || typeof v === 'boolean';
    const fn = (v: unknown) => v === undefined || typeof v === 'function';
    if (!bool(initial) || !bool(current) || !fn(onError) || !fn(onCurrent)) {
      throw new FeatValidationError('invalid_argument', 'watch() options: "initial" (or "current") is a boolean, "onError" and "onCurrent" functions');
    }
    const first = initial === true || current === true;
    // (Without `initial`, read only when the watch's starting point came late: see ChangeWatcher.#catchUp.)
    const read = { io: this.#io, initial: first, onError: onError as WatchOptions['onError'], onCurrent: onCurrent as WatchOptions['onCurrent'] };
    return this.#ctx.watch.subscribe(subscription, listener as (event: ChangeEvent) => void, read);
  }

  #findModule: Promise<typeof FindModule> | undefined;
  /** The query module, loaded on first use; later calls reuse its promise (no `import()` per query). */
  #queries(): Promise<typeof FindModule> {
    if (!this.#findModule) {
      const loading = import('../query/find.js');
      loading.catch(() => this.#findModule === loading && (this.#findModule = undefined));
      this.#findModule = loading;
    }
    return this.#findModule;
  }

  /**
   * The values matching a Mango query over their own fields (`{ prefix?, selector?, sort?, limit?, skip? }`), as
   * `{ key, subkey?, value }` — a part matches as its own value. Expired values never match. No `limit`: every match.
   * Sees this client's own writes not stored yet, as `get()` does. See the README's "Queries".
   */
  async find<T = unknown>(query: Query, options?: FindOptions): Promise<QueryResult<T>[]> {
    this.#open();
    const planned = planQuery(query);
    const opts = checkOptions(options, 'find');
    const { onWarning, signal } = opts;
    if (onWarning !== undefined && typeof onWarning !== 'function') throw new FeatValidationError('invalid_argument', 'find(): "onWarning" must be a function');
    checkSignal(signal);
    throwIfAborted(signal);
    return this.#untilClose((await this.#queries()).find<T>(this.#io, planned, opts));
  }

  /**
   * A query's work, ended by close(): `closed` once the client closes (pouchdb-find on a replica being closed may never
   * answer), and a failure met while it closes (the replica's "database is closed") is `closed` too.
   */
  #untilClose<T>(work: Promise<T>): Promise<T> {
    const closed = this.#ctx.closed;
    return withSignal(work, closed).catch((error: unknown) => {
      if (closed?.aborted || (this.#ctx.closing() && !(error instanceof FeatValidationError))) throw closedError();
      throw error;
    });
  }

  /**
   * Creates the index of the value's `fields` (Mango, json; named `name` when given) in the database this store reads —
   * the replica in local-first mode, the server's database in remote mode. Idempotent. `find()` creates the index a
   * sort needs itself; the client's `indexes` option declares indexes once for the whole session.
   */
  async createIndex(index: IndexSpec): Promise<void> {
    this.#open();
    const checked = checkIndex(index, 'createIndex()');
    return this.#untilClose((await this.#queries()).createIndex(this.#io, checked));
  }

  /**
   * Creates the client's declared indexes (`indexes` option) in the background, once the database is open; a failure
   * goes to `client.sync.on('error')` (the queries that wait for the index get it too). Nothing when none are declared.
   */
  prepareIndexes(): void {
    if (this.#ctx.indexes.length === 0) return;
    const report = (error: unknown) => {
      if (!this.#ctx.closing()) this.#ctx.reportError?.(toFeatError(error));
    };
    void Promise.all([this.#queries(), this.#ctx.db()])
      .then(([m, db]) => m.declaredIndexes(this.#io, db))
      .catch(report);
  }

  /**
   * Calls `listener` with the results of `query` now, then with a new result set after every change (local or remote)
   * that alters them — never for a change that does not. A result that did not change is the same object as in the
   * set before (treat results as read-only). Returns the unsubscribe function.
   */
  watchQuery<T = unknown>(query: Query, listener: (results: QueryResult<T>[]) => void, options?: WatchQueryOptions): () => void {
    this.#open();
    const planned = planQuery(query);
    if (typeof listener !== 'function') throw new FeatValidationError('invalid_argument', 'watchQuery() takes a listener function');
    const opts = checkOptions(options, 'watchQuery') as WatchQueryOptions;
    const { onError, onWarning } = opts;
    if ((onError !== undefined && typeof onError !== 'function') || (onWarning !== undefined && typeof onWarning !== 'function')) {
      throw new FeatValidationError('invalid_argument', 'watchQuery() options: "onError" and "onWarning" are functions');
    }
    let stop: (() => void) | undefined;
    let stopped = false;
    const report = (error: FeatError) => (onError ?? this.#ctx.reportError ?? (() => undefined))(error);
    import('../query/live.js').then(
      (m) => {
        if (stopped) return;
        stop = m.watchQuery<T>(
          {
            io: this.#io,
            subscribe: (scope, l) => this.#ctx.watch.subscribe(scope, l),
            started: async () => this.#ctx.watch.started(WATCH_START_WAIT_MS),
            reportError: report,
          },
          planned,
          listener,
          opts,
        );
      },
      (error: unknown) => report(toFeatError(error)),
    );
    return () => {
      stopped = true;
      stop?.();
    };
  }

  [COMPLETE](): Promise<boolean> {
    return this.#ctx.complete?.() ?? Promise.resolve(true);
  }

  [DECIDING]<T>(decide: () => Promise<T>): Promise<T> {
    const decision = decide();
    const settled = decision.then(
      () => undefined,
      () => undefined,
    );
    this.#deciding.add(settled);
    void settled.then(() => this.#deciding.delete(settled));
    return decision;
  }

  /**
   * Resolves when every set/remove made before the call is durable; rejects with the first failure among them.
   * `signal` ends the call's wait (`aborted`), not the writes.
   */
  flush(options?: SignalOptions): Promise<void> {
    return abortable(() => {
      const signal = signalOf(checkOptions(options, 'flush'));
      this.#open();
      return signal;
    }, async () => {
      // Taken now, together: what is queued, and the parts calls (and the writes waiting for them) still planning — a
      // snapshot taken after waiting for those would miss the writes that failed meanwhile. Writes still being decided
      // ([DECIDING]) are waited for once decided.
      const decided = [...this.#deciding].map((d) => d.then(() => Promise.all([this.#queue.flush(), ...this.#orderedCalls])));
      const results = await Promise.allSettled([this.#queue.flush(), ...this.#orderedCalls, ...decided]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
  }

  /** Number of keys with a write that is not yet durable. */
  get pendingWrites(): number {
    return this.#queue.size;
  }

  /** Settles when this client's write of `id` now on its way (if any) has its answer (its revision is then known). */
  writing(id: string): Promise<void> | undefined {
    return this.#queue.inFlight(id);
  }

  /**
   * A value this replica holds in a shape no request can carry now (a document larger than `maxRequestBytes`, or chunks
   * cut for a larger limit: an app that lowered the limit to its proxy's, the push refused it `too_large`): written
   * again in the shape the current limits give, as it is — same value, same time (AS_OF) and expiry — so that the push
   * can send it. Resolves true when it was written again, false when its shape is already the current one (or it is
   * gone, expired, or unreadable).
   */
  async reshape(id: string): Promise<boolean> {
    const db = await this.#db();
    const raw = (await db.get(id).catch(() => undefined)) as StoredDoc | undefined;
    if (!raw || raw._deleted || !raw.feat) return false;
    const { updatedAt, expiresAt, chunks } = decode(raw);
    // (Expired too: it goes as it is, expired, as the server would have it — not held as pending for good.)
    const value = await this.valueOf(db, raw, 0).catch(() => undefined);
    if (value === undefined) return false;
    const op: WriteOp = { deleted: false, value, at: updatedAt, seq: tick() };
    let now: string[] | undefined;
    try {
      now = this.#isLarge(op) ? (await this.#chunksOf(op)).map((c) => c._id) : undefined;
    } catch {
      // Too big for a manifest that fits in a request: nothing to cut (the refusal was told, with its key).
      return false;
    }
    if (now === undefined ? chunks === undefined : chunks !== undefined && now.join() === chunks.join()) return false;
    const ttl = expiresAt === undefined ? {} : { ttl: Math.max(1, expiresAt - updatedAt) };
    // (A default, time 0, is stamped 1: still older than any write, but not a default, which the server's copy of
    // the same key would keep out.)
    await this.set(id, value, { [AS_OF]: Math.max(1, updatedAt), ...ttl } as unknown as SetOptions);
    return true;
  }

  /** Keys with a write not yet stored (queued or in flight). */
  pendingKeys(): string[] {
    return [...this.#queue.ids()];
  }

  /** The database; the server's with reads and writes of the ids `.` and `..` kept out of URLs. */
  #db(): Promise<Db> {
    return this.#ctx.local ? this.#ctx.db() : this.#ctx.db().then(dotSafe);
  }

  /** New calls after close() reject with `closed` (but writes decided for a call made before, see {@link DECIDING}). */
  #open(options?: object): void {
    if (this.#ctx.closing() && !(this.#deciding.size > 0 && (options as { [DECIDING]?: unknown } | undefined)?.[DECIDING] === true)) throw closedError();
  }

  /** The decisions running ({@link DECIDING}), each settled when it is. */
  #deciding = new Set<Promise<void>>();

  /** Forgets what this store knew of `id` (after another device changed it). */
  forget(id: string): void {
    this.#known.delete(id);
  }

  /**
   * Reads the current version of `id` (`undefined` when absent or deleted) and records its revision as seen by the app
   * from now on, or from `seen` (`Infinity`: a read the app does not see). A 404 keeps what was known: the revision
   * may be this client's own deletion, which a later write then extends.
   */
  async #read(db: Db, id: string, seen?: number, signal?: AbortSignal, settle = false, byResolver = false): Promise<StoredDoc | undefined> {
    // A read whose caller gave up (`signal`) is one the app does not see.
    const sighted = () => seen ?? (signal?.aborted ? Infinity : tick());
    try {
      let raw = this.#ctx.local
        ? await this.#bounded(() => db.get(id, settle ? { conflicts: true } : {}), `reading "${id}"`)
        : await db.get(id, { conflicts: true, deleted_conflicts: true });
      // `get()` on a replica: conflicting leaves a pull just brought show their resolution, not the leaf it drops — a
      // removal made here later than the value a pull just brought too (a deleted leaf, which no `_conflicts` lists):
      // the app would see, and write on, a value it removed.
      if (this.#ctx.local && settle && (raw._conflicts?.length || (await this.#laterRemoval(db, id, raw))))
        raw = await (await loadSettle()).settleReplica(this.#settleDeps(), db, id, raw, signal, byResolver);
      if (this.#ctx.local) delete raw._conflicts;
      // On the server, leaves another client replicated in (a local-first device, another app) are resolved before
      // the value is read — through the resolver, as replication does on a replica: never left to hide data.
      // (Not for `.` and `..`, which no URL can name: their leaves wait for a local-first device to resolve them.)
      // A resolution that cannot finish (the resolver throws, or the winner keeps moving) does not fail the read: as in
      // replication, it goes to the `error` event, the read returns the current winner, and the leaves wait for the
      // next read or write of the key.
      // A removal on another branch (a device that deleted the key offline) is a deleted leaf, which CouchDB never
      // lists in `_conflicts`: those are looked at once per winner and set of deleted leaves (the losers a resolution
      // deleted stay deleted leaves for good, and are older than the winner: nothing to do). A read whose caller gave up
      // (`signal`) leaves them to the next read or write.
      const deletedLeaves = raw._deleted_conflicts?.length ? `${raw._rev} ${raw._deleted_conflicts.join(' ')}` : undefined;
      const toResolve = raw._conflicts?.length || (deletedLeaves !== undefined && this.#deletedSeen.get(id) !== deletedLeaves);
      // While the key's resolver runs, what that resolution writes (waited for, bounded), or the winner: the reader
      // may be that resolver (resolving.ts).
      const settling = !this.#ctx.local && toResolve ? await loadSettle() : undefined;
      if (settling && (await settling.whileResolving(this.#ctx.closed, id, byResolver))) {
        if (byResolver) delete raw._conflicts;
        else raw = await db.get(id);
      } else if (settling && !signal?.aborted && !id.startsWith('_') && id !== '.' && id !== '..') {
        const { resolveLeaves, oneAtATime } = settling;
        try {
          // (One resolution of the key at a time: a read made meanwhile finds it resolved, asks nothing.)
          const wrote = await oneAtATime(this.#ctx.closed, id, () =>
            resolveLeaves(db, id, this.#ctx.onConflict, (event) => this.#ctx.emitConflict(event), (doc) => this.valueOf(db, doc), (key, op) => this.chunkIfLarge(db, key, op), this.#ctx.closed),
          );
          // Read again whatever it did: another client (a device's pushed resolution) may have resolved the leaves
          // between the two reads. Unchanged, with nothing to do: its deleted leaves are not looked at again.
          const before = raw._rev;
          raw = await db.get(id);
          if (!wrote && deletedLeaves !== undefined && raw._rev === before) remember(this.#deletedSeen, id, deletedLeaves, DELETED_SEEN_MAX);
        } catch (error) {
          if (!(error instanceof FeatConflictError)) throw error;
          this.#ctx.reportError?.(error);
          delete raw._conflicts;
        }
      }
      delete raw._deleted_conflicts;
      if (raw._rev) this.#known.learn(id, raw._rev, sighted());
      this.#saw(raw);
      return raw;
    } catch (error) {
      // A missing document is an absent key; a missing database is not (an app would show an empty draft and save it).
      const e = error as { status?: number; reason?: unknown; message?: unknown };
      if (e.status === 404 && !/Database does not exist/.test(String(e.reason ?? e.message))) {
        // On the replica, a key the app read as absent: a revision pulled in before its write was not seen by it.
        const at = sighted();
        if (this.#ctx.local && at !== Infinity) this.#known.readAbsent(id, at);
        return undefined;
      }
      throw toFeatError(error, { key: id });
    }
  }

  /**
   * On a replica, while the pull's resolution of `id` is under way (it brought a revision): whether a deleted leaf
   * written later than the current one is there — a removal the resolution is about to keep (resolve-leaves.ts).
   */
  async #laterRemoval(db: Db, id: string, raw: StoredDoc): Promise<boolean> {
    if (raw._deleted || !this.#ctx.resolution?.(id)) return false;
    const at = decode(raw).updatedAt;
    const leaves = (await this.#bounded(() => db.get(id, { open_revs: 'all' }), `reading "${id}"`)) as unknown as { ok?: StoredDoc }[];
    return leaves.some((l) => l.ok?._deleted === true && decode(l.ok).updatedAt > at);
  }

  /** What settle.ts needs of the store. */
  #settleDeps(): SettleDeps {
    const ctx = this.#ctx;
    return {
      closed: ctx.closed,
      onConflict: ctx.onConflict,
      emitConflict: (event) => ctx.emitConflict(event),
      reportError: ctx.reportError ? (error) => ctx.reportError?.(error) : undefined,
      valueOf: (db, doc) => this.valueOf(db, doc),
      chunkIfLarge: (db, id, op) => this.chunkIfLarge(db, id, op),
      resolution: ctx.resolution ? (id) => ctx.resolution?.(id) : undefined,
      bounded: (read, what) => this.#bounded(read, what),
    };
  }

  /**
   * A read of the replica, bounded and asked again (IndexedDB may never answer a read whose transaction it aborted:
   * util/chunk-lock.ts `readReplica`); on the server, the transport bounds it.
   */
  #bounded<T>(read: () => Promise<T>, what: string): Promise<T> {
    return this.#ctx.local ? readReplica(read, what) : read();
  }

  async #allDocs(db: Db, options: Record<string, unknown>, key?: string) {
    try {
      const answer = await this.#bounded(() => db.allDocs(options), key === undefined ? 'reading keys' : `reading "${key}"`);
      // The documents a write may go on top of (a write batch's look-up, parts, conflicts, reads of many keys).
      if (options.include_docs) for (const row of answer.rows) if (row.doc && !row.error && !row.value?.deleted) this.#saw(row.doc);
      return answer;
    } catch (error) {
      throw toFeatError(error, key === undefined ? {} : { key });
    }
  }

  /**
   * Writes that met a conflict (or an unknown revision) are resolved one request after another each, at most
   * {@link RESOLVING_AT_ONCE} at a time (removing 1,200 unread parts on the server opened 1,200 connections at once).
   */
  #resolving = limiter(RESOLVING_AT_ONCE);

  /** One batch of the write queue: one `_bulk_docs`, then per-document conflict resolution. */
  async #writeBatch(batch: { id: string; op: WriteOp }[]): Promise<(unknown | undefined)[]> {
    // On the replica the database as it is; on the server #db() also wraps it (dotSafe).
    const db = (this.#ctx.local ? this.#ctx.dbNow?.() : undefined) ?? (await this.#db());
    // A watch subscribed before these writes were asked for sees them: its feed starts first (bounded wait).
    const starting = this.#ctx.watch.started(WATCH_START_WAIT_MS);
    if (starting) await starting;
    const results: (unknown | undefined)[] = new Array(batch.length).fill(undefined);
    const now = Date.now();
    for (const { op } of batch) {
      op.by = this.#writer;
      // A `ttl` counts from the write (API.md), not from a call that waited for ready() or behind other writes: from now,
      // once (a write tried again keeps it).
      if (op.ttl !== undefined) {
        op.expiresAt = now + op.ttl;
        op.ttl = undefined;
      }
    }
    // Unknown revisions. On the local replica they are looked up in one request (conflicts between devices surface in
    // replication). On the server a write or a deletion with an unknown revision meets 409 and goes through the
    // resolver: never a blind overwrite of a newer write by another client.
    if (this.#ctx.local && batch.some((b) => this.#known.rev(b.id) === undefined)) {
      await (await loadLookUp()).lookUp(this.#io, db, batch);
    }
    let todo = batch.map(({ id, op }, i) => ({ id, op, i, rev: undefined as string | undefined, chunks: undefined as ChunkDoc[] | undefined }));
    // On the server, the big values whose manifest this batch stored (and their chunks, when at hand): their chunks are
    // checked again before the writes resolve (#keepChunks). The resolver's writes are recorded through `io.stored`.
    const manifests = new Map<string, { op: WriteOp; chunks?: ChunkDoc[] }>();
    const io: StoreIO = this.#ctx.local
      ? this.#io
      : {
          ...this.#io,
          stored: (id, rev, op, seen) => {
            this.#stored(id, rev, op, seen);
            // (The same value written again on top of its own write, checkRecreated: its chunks are at hand.)
            const chunks = manifests.get(id)?.op === op ? manifests.get(id)?.chunks : undefined;
            if (this.#isLarge(op)) manifests.set(id, chunks ? { op, chunks } : { op });
            else manifests.delete(id);
          },
        };
    // A write goes blindly on top of a revision only when the app could have seen that revision when it made the write;
    // otherwise (read since, or seen only by the SDK while an earlier write of the key met a conflict) it is resolved.
    const conflicts: Promise<void>[] = [];
    const later = (id: string, i: number, work: (m: typeof ResolveWriteModule) => Promise<void>) =>
      conflicts.push(
        loadResolveWrite().then((m) => this.#resolving(() => work(m))).catch((error: unknown) => {
          results[i] = toFeatError(error, { key: id });
        }),
      );
    // On the server, the writes to resolve are gathered and resolved together once the batch is written (one read and
    // one write for many documents: see resolveWrites); on the replica (local reads) each on its own at once.
    const gathered: { id: string; op: WriteOp; i: number }[] = [];
    const resolve = (id: string, op: WriteOp, i: number) =>
      this.#ctx.local ? later(id, i, (m) => m.resolveWrite(db, id, op, io)) : gathered.push({ id, op, i });
    // On the server, a write never names a deletion's revision (CouchDB answers 409): a value goes without one (CouchDB
    // re-creates the document on top of its deletion), a deletion of a deleted key goes through resolve-write.
    const overTombstone = new Map<number, string>();
    todo = todo.filter((item) => {
      const known = this.#known.get(item.id);
      item.rev = known?.rev;
      if (known?.deleted && !this.#ctx.local) {
        if (item.op.deleted) {
          resolve(item.id, item.op, item.i);
          return false;
        }
        overTombstone.set(item.i, known.rev);
        item.rev = undefined;
      }
      // (Never a default, time 0, over a live revision, whenever it was seen: any version wins over a default — the
      // redux engine decides it before it sends it, and another device's value may arrive in between.)
      if (known === undefined || (known.seen < item.op.seq && (item.op.at !== 0 || item.op.deleted || known.deleted))) {
        stamp(item.op, this.#parent(item.id, known?.rev));
        return true;
      }
      resolve(item.id, item.op, item.i);
      return false;
    });
    // Values too big for one document: their chunks are stored first, the manifest goes in this batch — on the replica
    // under the chunk lock, so that no pulled chunk deletion lands between the two (util/chunk-lock.ts).
    const unlock = this.#ctx.local && todo.some((item) => this.#isLarge(item.op)) ? await lockChunks(db) : undefined;
    try {
      for (const item of todo) {
        if (!this.#isLarge(item.op)) continue;
        try {
          item.chunks = await this.#storeChunks(db, item.id, item.op);
        } catch (error) {
          results[item.i] = toFeatError(error, { key: item.id });
        }
      }
      todo = todo.filter((item) => results[item.i] === undefined);
      if (todo.length > 0) {
        const docs = todo.map(({ id, op, rev, chunks }) => encode(id, op, rev, chunks?.map((c) => c._id)));
        let written: BulkResult[];
        try {
          // Under the chunk lock, every step is bounded (underLock): the lock is always released.
          written = await (unlock ? underLock(db.bulkDocs(docs), 'writing the manifest') : db.bulkDocs(docs));
        } catch (error) {
          for (const { id, i } of todo) results[i] = toFeatError(error, { key: id });
          // On the server, an answer lost on the way back: the writes may be stored (see #unanswered).
          if (!this.#ctx.local && ['network', 'timeout'].includes(toFeatError(error).code)) {
            for (const { id, op } of todo) remember(this.#answerLost, id, op, LOST_KEPT);
          }
          written = [];
        }
        todo.forEach(({ id, op, i, chunks }, j) => {
          const r = written[j];
          if (results[i] !== undefined) return;
          if (r && !r.error && r.rev) {
            this.#stored(id, r.rev, op);
            if (chunks && !this.#ctx.local) manifests.set(id, { op, chunks });
            // Sent without a revision, it landed on a deleted document (not a first revision): see checkRecreated().
            // Over a deletion it knew of, the check is needed only when the write landed on another one.
            const tombstone = overTombstone.get(i);
            const extendsKnown = tombstone !== undefined && Number.parseInt(r.rev, 10) === Number.parseInt(tombstone, 10) + 1;
            if (docs[j]!._rev === undefined && !r.rev.startsWith('1-') && !extendsKnown) {
              later(id, i, (m) => m.checkRecreated(db, id, op, r.rev!, io));
            }
          } else if (r?.status === 409 || r?.name === 'conflict') resolve(id, op, i);
          else results[i] = toFeatError(r ?? new FeatError('bad_response', 'The server returned no result for a document'), { key: id });
        });
      }
    } finally {
      unlock?.();
    }
    if (gathered.length === 1) later(gathered[0]!.id, gathered[0]!.i, (m) => m.resolveWrite(db, gathered[0]!.id, gathered[0]!.op, io));
    else if (gathered.length > 1) {
      conflicts.push(
        loadResolveWrite()
          .then((m) => m.resolveWrites(db, gathered, io, (work) => this.#resolving(work)))
          .then(
            (errors) => errors.forEach((error, j) => (results[gathered[j]!.i] = error)),
            (error: unknown) => gathered.forEach(({ id, i }) => (results[i] = toFeatError(error, { key: id }))),
          ),
      );
    }
    if (conflicts.length > 0) await Promise.all(conflicts);
    if (manifests.size > 0) await this.#keepChunks(db, batch, manifests, results);
    return results;
  }

  /**
   * On the server, once the manifests of big values are stored: their chunks are looked up again, all in one request,
   * and those deleted meanwhile (another device's collection) are written again, before the writes resolve (chunks.ts
   * `keepChunks`). A failed look fails the write with what is true (the value is stored, its chunks are not known to
   * be): writing it again is safe.
   */
  async #keepChunks(db: Db, batch: { id: string; op: WriteOp }[], manifests: Map<string, { op: WriteOp; chunks?: ChunkDoc[] }>, results: (unknown | undefined)[]): Promise<void> {
    const values: { key: string; chunks: ChunkDoc[] }[] = [];
    for (const [key, { op, chunks }] of manifests) {
      // A resolver's value (written by resolve-write.ts) is cut again: its chunk documents are not kept.
      if (batch.some((b, i) => b.id === key && results[i] === undefined)) values.push({ key, chunks: chunks ?? (await this.#chunksOf(op)) });
    }
    const failed = values.length > 0 ? await (await loadChunks()).keepChunks(db, values) : undefined;
    batch.forEach((b, i) => (results[i] ??= failed?.get(b.id)));
  }

  /** True when the value does not fit in one document. */
  #isLarge(op: WriteOp): boolean {
    if (op.deleted || (op.maxBytes !== undefined && op.maxBytes <= this.#inline)) return false;
    const json = jsonOf(op);
    // At most 3 UTF-8 bytes per UTF-16 code unit: most values are known to fit without counting.
    return json.length * 3 > this.#inline && utf8Bytes(json) > this.#inline;
  }

  /** For a value too big for one document: stores its chunks (those not stored yet) and returns their ids. */
  async chunkIfLarge(db: Db, id: string, op: WriteOp): Promise<string[] | undefined> {
    return (await this.#storeChunks(db, id, op))?.map((c) => c._id);
  }

  /** {@link chunkIfLarge}, returning the chunk documents. */
  async #storeChunks(db: Db, id: string, op: WriteOp): Promise<ChunkDoc[] | undefined> {
    if (!this.#isLarge(op)) return undefined;
    const chunks = await this.#chunksOf(op);
    await (await loadChunks()).storeChunks(db, chunks, id, this.#ctx.local);
    return chunks;
  }

  /** A big value cut into chunk documents. */
  async #chunksOf(op: WriteOp): Promise<ChunkDoc[]> {
    const { maxDocumentBytes, maxRequestBytes } = this.#ctx;
    // The largest chunk document is what one request (and one document) may carry, less the _bulk_docs envelope.
    const limit = (maxRequestBytes > 0 ? Math.min(maxDocumentBytes, maxRequestBytes) : maxDocumentBytes) - 256;
    const chunks = await (await loadChunks()).toChunks(jsonOf(op), limit);
    // The manifest lists every chunk (~78 bytes each) and must pass the proxy too: with a small limit a huge value
    // cannot be listed in one (about 10 MB at 64 KiB, far beyond 8 MB at the default 1 MiB). Refused before anything
    // is stored. (Not by maxDocumentBytes: apps and tests lower it to chunk sooner, while the server takes far more.)
    if (maxRequestBytes > 0 && chunks.length * 80 + 1_024 > maxRequestBytes - 256) {
      throw new FeatError('too_large', `The value is too big for a manifest of its ${chunks.length} chunks to fit in a request of ${maxRequestBytes} bytes ("maxRequestBytes"): split it with setParts(), or raise the proxy's limit and maxRequestBytes`);
    }
    return chunks;
  }

  /**
   * Deletes chunk documents no value refers to. A chunk is deleted only when it was unreferenced in a run at least
   * `graceMs` earlier too, so that a chunk written just before its manifest (here or on another device) survives.
   */
  async collectGarbage(options: { graceMs?: number; signal?: AbortSignal } = {}): Promise<{ deleted: number; kept: number }> {
    const graceMs = options.graceMs ?? 10 * 60_000;
    if (typeof graceMs !== 'number' || !(graceMs >= 0)) throw new FeatValidationError('invalid_argument', '"graceMs" must be ≥ 0');
    const db = await this.#db();
    await this.flush().catch(() => undefined);
    const { collectChunks } = await loadGc();
    // On the server: changes made during the scan are looked at before deleting. On the replica: only while its
    // pull is caught up, the deletions made on the server (see collectChunks).
    const server = this.#ctx.local ? await this.#ctx.server?.() : { db, since: String((await db.info()).update_seq ?? 'now') };
    const result = await collectChunks(db, graceMs, server, options.signal);
    return { deleted: result.deletedIds.length, kept: result.kept };
  }

  /**
   * The version a later write of the key meets is this client's own write whose answer was lost when it carries that
   * write's time and value: no conflict, and no resolver merging the app's value with itself.
   */
  #unanswered(id: string, raw: StoredDoc): boolean {
    const mine = this.wasUnanswered(id, raw);
    if (mine) this.#answerLost.delete(id);
    return mine;
  }

  /** `raw` is this client's own write whose answer was lost (the watch reports it as `local`); nothing is recorded. */
  wasUnanswered(id: string, raw: StoredDoc): boolean {
    const op = this.#answerLost.get(id);
    return op !== undefined && isWriteOf(raw, op);
  }

  /** The revision `rev` of `id` as a write's parent: with its marks when the store knows them. */
  #parent(id: string, rev: string | undefined): Parent | undefined {
    if (rev === undefined) return undefined;
    const known = this.#lineage.get(id);
    return known?.rev === rev ? known : { rev };
  }

  /** Records what a read found of `id`'s current revision (its lineage marks). */
  #saw(doc: StoredDoc): void {
    if (doc._id.startsWith('_') || doc._id.startsWith(INTERNAL_PREFIX)) return;
    const parent = parentOf(doc, !!doc._rev && this.#ctx.isOwn(doc._id, doc._rev));
    if (parent) remember(this.#lineage, doc._id, parent, this.#ctx.revCacheSize);
  }

  #stored(id: string, rev: string, op: WriteOp, seen = 0): void {
    remember(this.#lineage, id, { rev, by: op.by, from: op.from, n: op.n, anc: op.anc, mine: true }, this.#ctx.revCacheSize);
    this.#answerLost.delete(id);
    this.#known.set(id, rev, op.deleted || !mayBePart(id) ? undefined : hashOf(op), seen, op.deleted);
    this.#ctx.wrote(id, rev, op.deleted === true);
    this.#ctx.watch.wrote?.(id, rev, op);
  }
}
