/**
 * The local replica on the device: which adapter opens it, what a full device does to it, and how much room it has.
 *
 * Every call the SDK makes on the replica goes through {@link GuardedDb}, which turns a full device in any wrapping
 * (IndexedDB's QuotaExceededError, PouchDB's `indexed_db_went_bad` / `unknown_error`, LevelDB's ENOSPC) into a
 * `storage_full` error, tells the client (status, `error` event), and recovers by itself once there is room again:
 * LevelDB keeps its background error until the database is reopened (and `idb` closes its connection), so those
 * replicas are reopened — after the platform reports free space — on the next write.
 */
import { abortedTransaction, closedError, FeatError, localTimeout } from '../errors.js';
import { nodeOnly, openLocal } from '../pouch-local.js';
import { Pouch } from '../pouch.js';
import type { BulkResult, ChangesFeed, Db, ReplicaDb } from '../store/db.js';
import type { StoredDoc } from '../store/codec.js';
import { LATE, within } from '../util/abort.js';
import { idbDatabases } from '../util/idb-list.js';
import { isStorageFull, storageFullError, toStorageAwareError } from './storage-errors.js';

/** What `client.storage()` answers: estimates where the platform gives them. */
export interface StorageInfo {
  /** Bytes used: the origin's usage in browsers (every database of the site), the replica's files in Node. */
  usage?: number;
  /** Bytes the replica may grow to: the origin's quota in browsers, usage plus the disk's free space in Node. */
  quota?: number;
  /** Browsers: whether the site's storage is persistent (never evicted under storage pressure). */
  persisted?: boolean;
  /** True while the last write to the replica failed for lack of space (until a write succeeds again). */
  full?: boolean;
}

/** Room that must be free before a replica that hit a full device is reopened. */
const ROOM_BYTES = 1024 * 1024;

interface StorageManagerLike {
  estimate?(): Promise<{ usage?: number; quota?: number }>;
  persisted?(): Promise<boolean>;
  persist?(): Promise<boolean>;
}

function storageManager(): StorageManagerLike | undefined {
  return (globalThis as { navigator?: { storage?: StorageManagerLike } }).navigator?.storage;
}

/**
 * `local.persist`: asks the browser once to keep the site's storage (so the replica, unsynced writes included, is not
 * evicted under storage pressure). Resolves with the answer, or undefined where the platform has no such notion.
 */
export async function askPersist(): Promise<boolean | undefined> {
  const storage = storageManager();
  if (!storage?.persist) return undefined;
  try {
    if (await storage.persisted?.()) return true;
    return await storage.persist();
  } catch {
    return undefined;
  }
}

interface NodeFs {
  readdir(path: string, options: { withFileTypes: true }): Promise<{ name: string; isFile(): boolean }[]>;
  stat(path: string): Promise<{ size: number }>;
  statfs(path: string): Promise<{ bavail: number; bsize: number }>;
}

const nodeFs = () => nodeOnly('node:fs/promises') as unknown as Promise<NodeFs>;

async function directoryBytes(fs: NodeFs, dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) total += (await fs.stat(`${dir}/${entry.name}`).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Estimates for the replica `name` opened with `adapter` (or for the site, before a replica is open). */
export async function storageInfo(replica: { name?: string | undefined; adapter?: string | undefined; full?: boolean | undefined } = {}): Promise<StorageInfo> {
  const info: StorageInfo = {};
  if (replica.full) info.full = true;
  const storage = storageManager();
  if (storage?.estimate) {
    const estimate = await storage.estimate().catch(() => undefined);
    if (typeof estimate?.usage === 'number') info.usage = estimate.usage;
    if (typeof estimate?.quota === 'number') info.quota = estimate.quota;
    const persisted = await storage.persisted?.().catch(() => undefined);
    if (typeof persisted === 'boolean') info.persisted = persisted;
  } else if (replica.adapter === 'leveldb' && replica.name) {
    try {
      const fs = await nodeFs();
      const usage = await directoryBytes(fs, replica.name);
      const free = await fs.statfs(replica.name);
      info.usage = usage;
      info.quota = usage + free.bavail * free.bsize;
    } catch {
      // not Node, or the directory is gone: no estimate
    }
  }
  return info;
}

/** True when the platform reports room for more (or cannot tell). */
async function hasRoom(name: string, adapter: string): Promise<boolean> {
  try {
    if (adapter === 'leveldb') {
      const free = await (await nodeFs()).statfs(name);
      return free.bavail * free.bsize >= ROOM_BYTES;
    }
    const estimate = await storageManager()?.estimate?.();
    if (estimate?.quota !== undefined && estimate.usage !== undefined) return estimate.quota - estimate.usage >= ROOM_BYTES;
  } catch {
    // cannot tell
  }
  return true;
}

/** The IndexedDB database PouchDB uses for `name`, and whether the `idb` adapter created it (version < 10^13). */
async function madeByIdb(name: string): Promise<boolean> {
  const list = await idbDatabases();
  const found = list?.find((d) => d.name === `_pouch_${name}`);
  return found?.version !== undefined && found.version < 1e13;
}

/** The adapter that opens `name`: the one asked for; by default `indexeddb`, or `idb` for a replica `idb` made. */
export async function adapterFor(name: string, asked: string | undefined, fallback: string): Promise<string> {
  if (asked !== undefined) return asked;
  return fallback === 'indexeddb' && (await madeByIdb(name)) ? 'idb' : fallback;
}

type RawDb = Db & { compact?(): Promise<unknown> };

interface TransactionLike {
  error?: unknown;
  addEventListener?(type: 'abort', listener: () => void): void;
}

/** Why the replica's last IndexedDB transaction aborted (see {@link recordAborts}). */
const aborts = new WeakMap<object, unknown>();

/**
 * The `indexeddb` adapter answers a transaction aborted for lack of quota with a bare `unknown_error` ("transaction
 * was aborted"), dropping the transaction's QuotaExceededError: keep it, to tell a full device from other failures.
 */
function recordAborts(db: RawDb): void {
  const raw = db as unknown as { _openTransactionSafely?: (stores: unknown, mode: unknown, cb: (e: unknown, t?: TransactionLike) => void) => void };
  const open = raw._openTransactionSafely;
  if (typeof open !== 'function') return;
  raw._openTransactionSafely = (stores, mode, callback) =>
    open.call(db, stores, mode, (error, txn) => {
      txn?.addEventListener?.('abort', () => aborts.set(db, txn.error));
      callback(error, txn);
    });
}

/**
 * PouchDB's `indexeddb` adapter answers a transaction aborted on its connection ("Database has a global failure") by
 * forgetting the database and opening it at a new version on the next call. When the site's data is cleared,
 * IndexedDB aborts the transactions under way as it closes the connection: that next call then creates a new, empty
 * replica under the running client, which goes on with it as if its data were still there (a read finds nothing, a
 * write succeeds) and never learns of the loss. Every connection seen is reopened as it is instead: the adapter's own
 * handling of a connection closed under it (its `close` handler marks it stale; the next call opens the database at
 * its current version, as sync/tabs-writes.ts does), which finds a cleared one gone (`storage_lost`). A connection not
 * seen here before an abort (one only read since it was opened) may still have made a new database: the first
 * transaction on each new connection checks that it is the one opened (`id()`, made when the database is created),
 * and `recreated` is called when it is not. `deleting` is called when a connection hears that the database is being
 * deleted.
 */
function reopenAsItIs(db: RawDb, recreated: () => void, deleting: () => void): void {
  const raw = db as unknown as {
    _openTransactionSafely?: (stores: unknown, mode: unknown, cb: (e: unknown, t?: { db?: IDBDatabase }) => void) => void;
    id?(): Promise<string>;
  };
  const open = raw._openTransactionSafely;
  if (typeof open !== 'function' || typeof raw.id !== 'function') return;
  const identity = raw.id().catch(() => undefined);
  const seen = new WeakSet<IDBDatabase>();
  const check = async () => {
    const [was, now] = await Promise.all([identity, raw.id!().catch(() => undefined)]);
    if (was !== undefined && now !== undefined && was !== now) recreated();
  };
  raw._openTransactionSafely = (stores, mode, callback) =>
    open.call(db, stores, mode, (error, txn) => {
      const connection = txn?.db;
      if (connection && !seen.has(connection)) {
        seen.add(connection);
        // A deletion (another tab's logout): IndexedDB tells every open connection first, before any later event of
        // theirs — a write of this tab that ends after it went into the replica being deleted.
        connection.addEventListener('versionchange', (event) => {
          if (event.newVersion === null) deleting();
        });
        const forget = connection.onabort;
        const markStale = connection.onclose;
        if (typeof forget === 'function' && typeof markStale === 'function') {
          connection.onabort = () => {
            markStale.call(connection, new Event('close'));
            connection.close();
          };
        }
        void check();
      }
      callback(error, txn);
    });
}

/** True when `error`, or the abort behind it, says the device is full. */
function fullOn(db: RawDb | undefined, error: unknown): boolean {
  return isStorageFull(error) || (db !== undefined && isStorageFull(aborts.get(db)) && /transaction was aborted/.test(String((error as { reason?: unknown })?.reason)));
}

/** Opens a replica and checks that it can be used; a device too full to open it fails with `storage_full`. */
async function openChecked(name: string, adapter: string): Promise<RawDb> {
  const key = `${adapter}:${name}`;
  if (SHARED_STORES.has(adapter)) shareStores(key);
  // One opened while its store closes (a client's close() not awaited) would never complete.
  await within(closing.get(key) ?? Promise.resolve(), OPEN_WAIT_MS);
  // An open that timed out before goes on (IndexedDB completes it once the other connection closes): the next attempt
  // waits for that one. A new one would queue behind it, and closing the old one would close the connection both get.
  let attempt = stalled.get(key);
  stalled.delete(key);
  if (!attempt) {
    // Counted as open on its store from now (it joins `sharing` only once PouchDB's 'ref' comes, after the adapter's
    // reads): a close meanwhile must not close the store under it.
    const shares = SHARED_STORES.has(adapter);
    if (shares) opening.set(key, (opening.get(key) ?? 0) + 1);
    const db = (await openLocal(name, adapter)) as RawDb;
    recordAborts(db);
    attempt = { db, opened: db.info() };
    attempt.opened.catch(() => undefined).finally(() => shares && opening.set(key, opening.get(key)! - 1));
  }
  try {
    if ((await within(attempt.opened, OPEN_WAIT_MS)) === LATE) {
      // A LevelDB (or memory) one never completes: the next attempt opens anew.
      if (SHARED_STORES.has(adapter)) void attempt.opened.then(() => attempt.db.close(), () => undefined);
      else stalled.set(key, attempt);
      // A new database on a device whose quota is used up: IndexedDB never answers its first (creating) transaction.
      if (await quotaUsedUp()) {
        // That open never completes, even once there is room: the next attempt opens anew.
        stalled.delete(key);
        void within(attempt.db.close(), 1_000).catch(() => undefined);
        throw new FeatError('storage_full', `The local replica "${name}" could not be created: the device (or the browser's quota for this site) has no room left. Free some space, then call ready() again.`);
      }
      // Not there at all: not held by another connection — the site's data was cleared while the adapter created it,
      // and that open never completes (the next attempt opens anew).
      if (adapter === 'indexeddb' && (await idbDatabases())?.some((d) => d.name === `_pouch_${name}`) === false) {
        stalled.delete(key);
        throw lostError(name, new Error(`The IndexedDB database of the local replica "${name}" was deleted while it was being created`));
      }
      throw localTimeout(`The local replica "${name}" did not open within ${OPEN_WAIT_MS} ms: another connection to it (a tab that does not answer, or the app's own IndexedDB code) keeps it open. Close that connection, then call ready() again.`);
    }
  } catch (error) {
    if (error instanceof FeatError) throw error;
    // (Bounded: the adapter may never answer the close of a database whose open failed — the site's data cleared.)
    await within(attempt.db.close(), 1_000).catch(() => undefined);
    // A replica deleted under a client of this page leaves the adapter unable to open it here again. (Its connection
    // closed while it opened — the site's data cleared then — is no `aborted`: no signal of the app's was involved.)
    if ((error as { name?: unknown } | undefined)?.name === 'AbortError' && adapter === 'indexeddb') {
      // (A creating transaction aborted for want of room is the full device's.)
      if (await quotaUsedUp()) throw storageFullError(error);
      throw lostError(name, error);
    }
    // LevelDB's lock: another process has the replica open (IndexedDB's case is the open that does not complete above).
    if (/IO error: lock\b/.test(String((error as { message?: unknown } | undefined)?.message))) {
      throw localTimeout(`The local replica "${name}" is open in another process (LevelDB's lock): close the client there (or give this one another local.name), then call ready() again.`, { cause: error });
    }
    throw toStorageAwareError(error);
  }
  return attempt.db;
}

/**
 * True when IndexedDB refuses to store a few bytes for lack of room (a scratch database, deleted after): what an
 * open that never answers means on a full device. Within 2 s; false where there is no IndexedDB.
 */
export async function quotaUsedUp(): Promise<boolean> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return false;
  const name = 'feat-room-probe';
  const probe = new Promise<boolean>((resolve) => {
    const full = (error: unknown) => resolve(isStorageFull(error));
    const request = idb.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('probe');
    request.onerror = () => full(request.error);
    request.onsuccess = () => {
      const db = request.result;
      try {
        const txn = db.transaction('probe', 'readwrite');
        txn.objectStore('probe').put('x'.repeat(4096), 'x');
        txn.oncomplete = () => resolve(false);
        txn.onabort = () => full(txn.error);
        txn.onerror = () => full(txn.error);
      } catch (error) {
        full(error);
      } finally {
        db.close();
      }
    };
  });
  const answer = await within(probe, 2_000).catch(() => false);
  try {
    idb.deleteDatabase(name);
  } catch {
    // nothing to delete
  }
  return answer === true;
}

/** Opens that did not finish in time, by adapter and name (see openChecked). */
const stalled = new Map<string, { db: RawDb; opened: Promise<unknown> }>();

/** Adapters that share one store per name in the process (pouchdb-adapter-leveldb-core): see {@link shareStores}. */
const SHARED_STORES = new Set(['leveldb', 'memory']);

/** The replicas' shared stores (adapter and name), the databases open on each, and each one's close (or deletion) under way. */
const replicas = new Set<string>();
const sharing = new Map<string, Set<unknown>>();
const closing = new Map<string, Promise<void>>();
/** Opens under way on each store (see openChecked). */
const opening = new Map<string, number>();

type Done = (error?: unknown, result?: unknown) => void;
interface SharingDb {
  adapter: string;
  name: string;
  _close(done: Done): void;
  _destroy(options: unknown, done: Done): void;
}

/**
 * Closing any database on a LevelDB (or memory) store closes the store under every other one of that name (whose calls
 * then never answer): a client whose close() was not awaited would close the replica under the next client of it. Every
 * database opened on the store of a replica (`key`) from now on (logout's own, the app's: pouchdb-core is shared)
 * closes the store only as the last one open on it; a close or deletion is kept in `closing` until it ends.
 */
function shareStores(key: string): void {
  if (!replicas.size) (Pouch as unknown as { on(event: 'ref', listener: (db: SharingDb) => void): void }).on('ref', shared);
  replicas.add(key);
}

/** A database opened (see {@link shareStores}). */
function shared(db: SharingDb): void {
  const key = `${db.adapter}:${db.name}`;
  if (!replicas.has(key)) return;
  const open = sharing.get(key) ?? new Set();
  sharing.set(key, open.add(db));
  const end = (run: (done: Done) => void, done: Done) => {
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    closing.set(key, ended);
    run((error, result) => {
      if (closing.get(key) === ended) closing.delete(key);
      settle();
      done(error, result);
    });
  };
  const close = db._close.bind(db);
  const destroy = db._destroy.bind(db);
  db._close = (done) => {
    const peers = sharing.get(key);
    if (peers?.delete(db) && (peers.size > 0 || (opening.get(key) ?? 0) > 0)) return done();
    if (peers?.size === 0) sharing.delete(key);
    end(close, done);
  };
  db._destroy = (options, done) => {
    sharing.delete(key);
    end((ended) => destroy(options, ended), done);
  };
}

/**
 * The most opening the replica may take. IndexedDB holds an open (a new version, as the `indexeddb` adapter asks for)
 * for as long as another connection to the database does not close on `versionchange`.
 */
export const OPEN_WAIT_MS = 10_000;
/** How often a replica with calls under way is looked for (ms; see `GuardedDb.#watchdog`). */
const STUCK_LOOK_MS = 3_000;

export interface GuardEvents {
  /** A write failed for lack of space (once per episode). */
  full(error: FeatError): void;
  /** A write succeeded again after `full`. */
  room(): void;
  /** Before the replica is reopened (stop what runs on it) and after (start it again). */
  reopening(): Promise<void>;
  reopened(): void;
  /** The replica was deleted under this client (once): it cannot be used again in this page (see {@link replicaGone}). */
  lost(error: FeatError): void;
  /** The client is closing (its own close(), or another tab's logout deleting the replica): failures are `closed`. */
  closing(): boolean;
  /** IndexedDB says the replica is being deleted (another tab's logout({ destroyLocal: true })): the client closes. */
  deleting(): void;
  /**
   * Another tab's logout deletes the replica: every call fails with `closed`, and a write that ends now is not
   * acknowledged (it went into the replica being deleted).
   */
  closeAsked(): boolean;
  /**
   * Whether a logout({ destroyLocal: true }) recorded the deletion of replica `name` (last-session.ts; bounded, false
   * when it cannot tell): asked when the replica is found gone, to tell another tab's logout, whose close request this
   * client slept through (a frozen tab), from the site's data cleared.
   */
  deletionRecorded(name: string): Promise<boolean>;
}

/**
 * True when the `indexeddb` replica `name` is gone from under its open connection: the site's data was cleared (by the
 * user, DevTools or the browser). IndexedDB closes the connection; the adapter then reopens the database without a
 * version, finds it new, deletes it again and fails ("Version change transaction was aborted") on every later call
 * in this page — with nothing to tell it from an ordinary abort but that the database is no longer there (or is only
 * that new one, below the adapter's versions). Asked only after a failure that is not a document's own (see
 * `GuardedDb`); where `indexedDB.databases()` is missing, the failure's message decides.
 */
export async function replicaGone(name: string, adapter: string, error: unknown): Promise<boolean> {
  if (adapter !== 'indexeddb') return false;
  const factory = (globalThis as { indexedDB?: { databases?(): Promise<{ name?: string; version?: number }[]> } }).indexedDB;
  if (!factory) return false;
  if (typeof factory.databases !== 'function') return /deleted while open|Version change transaction was aborted/i.test(String((error as { message?: unknown })?.message));
  const list = await idbDatabases();
  if (!list) return false;
  const found = list.find((d) => d.name === `_pouch_${name}`);
  return found === undefined || (found.version !== undefined && found.version < 1e13);
}

/** The error every call on a replica that was deleted under the client receives. */
function lostError(name: string, cause: unknown): FeatError {
  return new FeatError(
    'storage_lost',
    `The local replica "${name}" was deleted while the app ran (the site's data was cleared). What reached the server is safe; changes only on this device are gone. Reload the page (in a worker: start a new one) to go on from the server.`,
    { cause },
  );
}

/** A `_local` document written by replication (a checkpoint), as opposed to the SDK's own markers. */
/**
 * Closes the index databases pouchdb-find opened beside `db` (the map/reduce views of the LevelDB, memory and idb
 * adapters, `<name>-mrview-<hash>`, cached on the replica object): PouchDB's close() leaves them open, and with them
 * their files and memory, one set per sign-in. Each is given 1 s (a view still building is left to finish).
 */
async function closeViews(db: RawDb): Promise<void> {
  const views = (db as { _cachedViews?: Record<string, PromiseLike<{ db?: { close?: () => Promise<unknown> } }>> })._cachedViews;
  if (!views) return;
  await Promise.all(Object.values(views).map((view) => within(Promise.resolve(view).then((v) => v.db?.close?.()), 1_000).catch(() => undefined)));
}

/**
 * Resolves once the transactions under way on the `indexeddb` replica's connection have ended (within 1 s): IndexedDB
 * closes a connection only then, and an open at a new version meanwhile (the adapter's every open: logout's own right
 * after close(), the next client's of the replica) is `blocked`, which the adapter logs with console.error ("onblocked,
 * this should never happen"). Live changes feeds that a last write signalled are still reading when close() comes. A
 * read-write transaction over every store starts only once every transaction created before it has ended.
 */
function settled(db: RawDb): Promise<unknown> {
  const open = (db as { _openTransactionSafely?: (stores: string[], mode: string, cb: (e: unknown, t?: IDBTransaction) => void) => void })._openTransactionSafely;
  // (An adapter version without it: nothing to wait for.)
  if (!open) return Promise.resolve();
  const ended = new Promise<void>((resolve) => open.call(db, ['docs', 'meta'], 'readwrite', (_, txn) => (txn ? (txn.oncomplete = txn.onabort = () => resolve()) : resolve())));
  return within(ended, 1_000).catch(() => undefined);
}

const isCheckpoint = (id: unknown) => typeof id === 'string' && id.startsWith('_local/') && !id.startsWith('_local/feat-');

/** Adapters whose database must be reopened after a full device (LevelDB's background error; idb's closed connection). */
const REOPENS = new Set(['leveldb', 'idb']);

/**
 * The local replica as the SDK uses it (see the module comment). Replication's checkpoint writes (`_local/sync-push`,
 * `_local/sync-pull`: src/sync/live-*.ts) tolerate a full device: the documents of a batch are already on the server
 * (or in the replica) when its checkpoint is written, and a checkpoint that could not be kept only means a later rescan.
 */
export class GuardedDb implements Db {
  readonly name: string;
  readonly adapter: string;
  #db: RawDb | undefined;
  #events: GuardEvents;
  #full = false;
  /** Set once the replica was found deleted under the client: every later call fails with it at once. */
  #lost: FeatError | undefined;
  /** Set once the replica was found deleted by another tab's logout: the adapter can no longer close or delete it. */
  #deleted = false;
  /** Whether the replica found gone was deleted by a logout or lost (#gone): what every call waits for meanwhile. */
  #deciding: Promise<FeatError> | undefined;
  #healing: Promise<void> | undefined;
  /** Live changes feeds handed out: ended when the database is reopened, so their owners start new ones. */
  #feeds = new Set<ChangesFeed>();
  /**
   * The calls under way on an IndexedDB replica (how each is ended). The adapter never answers a call whose
   * transaction the clear aborted: such calls are ended with the loss (or `closed`) when it is found, not left
   * pending for ever (a waitForPush() made before the clear never settled).
   */
  #inFlight = new Set<(error: FeatError) => void>();
  /**
   * While calls are under way: looks every STUCK_LOOK_MS whether the replica is still there. The site's data cleared
   * while the adapter was creating or opening it leaves calls that fail no way: none would tell the loss. Started by
   * the first call, it stops itself at a look that finds none under way (not started and stopped per call).
   */
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #looking = false;

  private constructor(db: RawDb, name: string, adapter: string, events: GuardEvents) {
    this.#db = db;
    this.name = name;
    this.adapter = adapter;
    this.#events = events;
    tolerateCheckpoints(db);
    this.#watch(db);
  }

  /** See {@link reopenAsItIs}: a new database made under the client is a lost replica. */
  #watch(db: RawDb): void {
    if (this.adapter !== 'indexeddb') return;
    reopenAsItIs(
      db,
      () => {
        if (!this.#events.closing() && this.#db === db) void this.#gone(new Error(`The IndexedDB database of the local replica "${this.name}" was created again under its open connection`));
      },
      () => {
        if (this.#db === db) this.#events.deleting();
      },
    );
  }

  static async open(name: string, adapter: string, events: GuardEvents): Promise<GuardedDb> {
    return new GuardedDb(await openChecked(name, adapter), name, adapter, events);
  }

  /** The error to report for a failure of the replica (replication's included): `storage_full` when the device is full. */
  explain(error: unknown): FeatError {
    if (this.#lost) return this.#lost;
    return fullOn(this.#db, error) ? storageFullError(error) : toStorageAwareError(error);
  }

  /** True while the last write failed for lack of space. */
  get full(): boolean {
    return this.#full;
  }

  /** The PouchDB database underneath, for plugins that need it whole (pouchdb-find: src/query). */
  get pouch(): unknown {
    return this.#raw();
  }

  #raw(): RawDb {
    if (this.#deleted) throw closedError();
    if (this.#lost) throw this.#lost;
    if (!this.#db) throw storageFullError(undefined);
    return this.#db;
  }

  async #ready(write: boolean): Promise<RawDb> {
    if (this.#deciding) await this.#deciding;
    if (this.#full && (write || !this.#db) && REOPENS.has(this.adapter)) await (this.#healing ??= this.#heal().finally(() => (this.#healing = undefined)));
    return this.#raw();
  }

  /** Reopens the replica once the platform reports room (LevelDB keeps its background error until then). */
  async #heal(): Promise<void> {
    if (!(await hasRoom(this.name, this.adapter))) return;
    await this.#events.reopening();
    for (const feed of this.#feeds) feed.cancel();
    this.#feeds.clear();
    const old = this.#db;
    this.#db = undefined;
    await old?.close().catch(() => undefined);
    const db = await openChecked(this.name, this.adapter);
    tolerateCheckpoints(db);
    this.#watch(db);
    this.#db = db;
    this.#events.reopened();
  }

  #sawFull(error: unknown, key?: string): FeatError {
    const failure = storageFullError(error, key === undefined ? {} : { key });
    if (!this.#full) {
      this.#full = true;
      this.#events.full(failure);
    }
    return failure;
  }

  #sawRoom(): void {
    if (!this.#full) return;
    this.#full = false;
    this.#events.room();
  }

  /** A failure of the replica that is neither a full device nor a document's own: was the replica deleted under us? */
  async #lostOr(error: unknown): Promise<unknown> {
    if (this.#lost) return this.#lost;
    const status = (error as { status?: unknown } | undefined)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) return error;
    if (this.#events.closing()) return closedError();
    // A transaction the clear aborted fails while IndexedDB may still list the database it is deleting: looked at
    // again a little later before it is taken for an ordinary abort (a frozen tab's).
    for (const wait of abortedTransaction(error) && this.adapter === 'indexeddb' ? [0, 250, 750] : [0]) {
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.#lost) return this.#lost;
      if (await replicaGone(this.name, this.adapter, error)) return this.#gone(error);
    }
    return error;
  }

  /**
   * The replica was deleted under the client. By another tab's logout({ destroyLocal: true }) that this client slept
   * through (a frozen tab: its JavaScript stopped, it heard neither the close request nor the deletion, and wakes to
   * find the replica gone): it closes, and its calls fail with `closed` (README "Several tabs"). Otherwise the site's
   * data was cleared: `storage_lost`.
   */
  #gone(error: unknown): Promise<FeatError> {
    // Decided once; the calls made meanwhile wait for it (else a read would answer from an empty database made again
    // under the old name, and a write would go into it and be lost).
    return (this.#deciding ??= this.#decideGone(error));
  }

  async #decideGone(error: unknown): Promise<FeatError> {
    if (!this.#lost && !this.#events.closing() && (await this.#events.deletionRecorded(this.name).catch(() => false))) {
      this.#deleted = true;
      this.#endInFlight(closedError());
      for (const feed of this.#feeds) feed.cancel();
      this.#feeds.clear();
      this.#events.deleting();
    }
    if (this.#events.closing()) return closedError();
    return this.#markLost(error);
  }

  /** The replica is lost (once): every later call fails with it, the feeds end, the client is told. */
  #markLost(error: unknown): FeatError {
    if (!this.#lost) {
      this.#lost = lostError(this.name, error);
      this.#endInFlight(this.#lost);
      for (const feed of this.#feeds) feed.cancel();
      this.#feeds.clear();
      this.#events.lost(this.#lost);
    }
    return this.#lost;
  }

  #endInFlight(error: FeatError): void {
    for (const end of this.#inFlight) end(error);
    this.#inFlight.clear();
    this.#stopWatchdog();
  }

  #stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  async #look(): Promise<void> {
    if (this.#inFlight.size === 0) return this.#stopWatchdog();
    if (this.#looking || this.#lost || this.#deleted || this.#events.closing()) return;
    this.#looking = true;
    try {
      const cause = new Error(`The IndexedDB database of the local replica "${this.name}" is no longer there while calls wait on it`);
      if (await replicaGone(this.name, this.adapter, cause)) await this.#gone(cause);
    } finally {
      this.#looking = false;
    }
  }

  /** `promise`, ended by the replica's loss found meanwhile (IndexedDB only: the other adapters' stores are not lost). */
  #endable<T>(promise: Promise<T>): Promise<T> {
    if (this.adapter !== 'indexeddb') return promise;
    return new Promise<T>((resolve, reject) => {
      this.#inFlight.add(reject);
      if (!this.#watchdog) {
        this.#watchdog = setInterval(() => void this.#look(), STUCK_LOOK_MS);
        (this.#watchdog as { unref?(): void }).unref?.();
      }
      promise.then(resolve, reject).finally(() => this.#inFlight.delete(reject));
    });
  }

  async #read<T>(call: (db: RawDb) => Promise<T>): Promise<T> {
    if (this.#events.closeAsked()) throw closedError();
    try {
      // Not full: no await before the call (one promise hop less per read and write, W4 in docs/benchmarks.md).
      return await this.#endable(call(this.#full ? await this.#ready(false) : this.#raw()));
    } catch (error) {
      throw fullOn(this.#db, error) ? storageFullError(error) : await this.#lostOr(error);
    }
  }

  /** `evidence`: a success shows room again (the SDK's own small `_local` markers do not: they may fit when nothing else does). */
  async #write<T>(call: (db: RawDb) => Promise<T>, key?: string, evidence = true): Promise<T> {
    if (this.#events.closeAsked()) throw closedError();
    try {
      const db = this.#full ? await this.#ready(true) : this.#raw();
      aborts.delete(db);
      const result = await this.#endable(call(db));
      // Another tab's logout is deleting the replica: what was just written goes with it.
      if (this.#events.closeAsked()) throw closedError();
      if (evidence) this.#sawRoom();
      return result;
    } catch (error) {
      throw fullOn(this.#db, error) ? this.#sawFull(error, key) : await this.#lostOr(error);
    }
  }

  get(id: string, options?: Record<string, unknown>): Promise<StoredDoc> {
    return this.#read((db) => db.get(id, options));
  }

  allDocs(options: Record<string, unknown>) {
    return this.#read((db) => db.allDocs(options));
  }

  info(): Promise<Record<string, unknown>> {
    return this.#read((db) => db.info());
  }

  /** Which of these revisions the replica lacks (live-pull.ts). */
  revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing?: string[] }>> {
    return this.#read((db) => (db as RawDb & ReplicaDb).revsDiff(diff));
  }

  /** Revisions with their history (live-push.ts). */
  bulkGet(options: Parameters<ReplicaDb['bulkGet']>[0]): ReturnType<ReplicaDb['bulkGet']> {
    return this.#read((db) => (db as RawDb & ReplicaDb).bulkGet(options));
  }

  changes(options: Record<string, unknown>): ChangesFeed {
    const feed = this.#raw().changes(options);
    // Its failure is the caller's; whether the replica went is ours to notice (the next calls then say so).
    feed.on('error', (error: unknown) => void this.#lostOr(error));
    if (!options.live && this.adapter === 'indexeddb') {
      // A one-off read awaited as a promise: ended by the loss too (see #inFlight).
      const result = this.#endable(new Promise((resolve, reject) => void feed.then(resolve, reject)));
      Object.assign(feed, { then: result.then.bind(result), catch: result.catch.bind(result) });
    }
    if (options.live) {
      this.#feeds.add(feed);
      feed.on('complete', () => this.#feeds.delete(feed));
      feed.on('error', () => this.#feeds.delete(feed));
    }
    return feed;
  }

  put(doc: StoredDoc, options?: Record<string, unknown>) {
    return this.#write((db) => db.put(doc, options), doc._id, !doc._id.startsWith('_local/'));
  }

  async bulkDocs(docs: StoredDoc[], options?: Record<string, unknown>): Promise<BulkResult[]> {
    const results = await this.#write((db) => db.bulkDocs(docs, options));
    let failure: FeatError | undefined;
    const mapped = results.map((r) => {
      if (!r.error || !fullOn(this.#db, r)) return r;
      failure = this.#sawFull(r, r.id);
      return Object.assign(storageFullError(r, r.id === undefined ? {} : { key: r.id }), { error: 'storage_full' }) as unknown as BulkResult;
    });
    return failure ? mapped : results;
  }

  compact(): Promise<unknown> {
    return this.#write(async (db) => db.compact?.());
  }

  close(): Promise<void> {
    // A replica deleted under the client: the adapter's every call (its close and destroy too) fails or never answers.
    if (this.#lost) return Promise.resolve();
    const db = this.#db;
    // Deleted by a logout: the adapter may never answer a close of it (not waited for); one made again under its name
    // (the logout's own open) is let go all the same.
    if (this.#deleted) {
      db?.close().catch(() => undefined);
      return Promise.resolve();
    }
    if (!db) return Promise.resolve();
    return Promise.all([this.adapter === 'indexeddb' && settled(db), closeViews(db)]).then(() => db.close());
  }

  destroy(): Promise<void> {
    if (this.#lost || this.#deleted) return Promise.resolve();
    return this.#db ? this.#db.destroy() : openLocal(this.name, this.adapter).then((db) => db.destroy());
  }
}

/** Lets replication's checkpoint writes on `db` succeed on a full device (see {@link GuardedDb}). */
function tolerateCheckpoints(db: RawDb): void {
  const put = db.put.bind(db) as (doc: StoredDoc, options?: Record<string, unknown>) => Promise<{ ok: boolean; id: string; rev: string }>;
  (db as { put: unknown }).put = (doc: StoredDoc, options?: unknown, callback?: unknown) => {
    const done = typeof options === 'function' ? options : callback;
    const result = put(doc, typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {}).catch((error: unknown) => {
      if (isCheckpoint(doc._id) && fullOn(db, error)) return { ok: true, id: doc._id, rev: typeof doc._rev === 'string' ? doc._rev : '0-1' };
      throw error;
    });
    if (typeof done === 'function') result.then((r) => done(null, r), (e: unknown) => done(e));
    return result;
  };
}
