/**
 * The local replica's PouchDB parts: the browser adapter (replication is the SDK's own, src/sync/live-*.ts). Imported
 * only by local-first code, so they load together with it in one lazy chunk, and remote-mode apps never load them.
 */
import IndexedDbAdapter from 'pouchdb-adapter-indexeddb';
import { FeatValidationError } from './errors.js';
import { Pouch } from './pouch.js';
import type { Db } from './store/db.js';
import { readByIds } from './store/keyed-reads.js';
import { shareWritesAcrossTabs } from './sync/tabs-writes.js';

/**
 * Node-only adapters are optional peer dependencies, loaded by a specifier bundlers do not follow, so a browser
 * bundle never pulls in leveldown or Node built-ins.
 */
export const nodeOnly = (specifier: string): Promise<{ default: unknown }> =>
  import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<{ default: unknown }>;

/** Registers a local adapter on first use (the app may have registered it already). */
async function loadAdapter(name: string): Promise<void> {
  if (Pouch.adapters[name]) return;
  switch (name) {
    case 'indexeddb':
      Pouch.plugin(IndexedDbAdapter);
      return;
    case 'idb':
      // Only for replicas that `idb` created (see device-storage.ts): a lazy chunk of its own.
      Pouch.plugin((await import('pouchdb-adapter-idb')).default);
      return;
    case 'memory':
    case 'leveldb': {
      const specifier = `pouchdb-adapter-${name}`;
      const plugin = await nodeOnly(specifier).catch((cause: unknown) => {
        throw new FeatValidationError(
          'invalid_argument',
          `The "${name}" local adapter needs the ${specifier} package: \`npm install ${specifier}\` (an optional peer dependency of @feat/sdk, for Node)`,
          { cause },
        );
      });
      if (!Pouch.adapters[name]) Pouch.plugin(plugin.default);
      return;
    }
    default:
      throw new FeatValidationError(
        'invalid_argument',
        `Unknown local adapter "${name}": use "indexeddb" or "idb" (browsers), "memory" or "leveldb" (Node), or register a PouchDB adapter plugin on pouchdb-core yourself`,
      );
  }
}

/**
 * The adapter for a new replica: `indexeddb` where IndexedDB exists (it keeps a replica readable when the origin's
 * quota is full, where `idb` closes its connection), else `memory`. A replica that `idb` created keeps being opened
 * with `idb` (see device-storage.ts).
 */
export function defaultAdapter(): string {
  return typeof indexedDB !== 'undefined' ? 'indexeddb' : 'memory';
}

/** The local replica. */
export async function openLocal(name: string, adapter: string): Promise<Db> {
  await loadAdapter(adapter);
  // No auto-compaction: it costs I/O on every write; scheduled maintenance compacts instead.
  const db = new Pouch(name, { adapter });
  // Every changes feed of the replica adds a 'destroyed' listener to it while it runs (live sync's, each watch's, the
  // reads after a write, a cancelled watch's until its feed ends): a screen of components remounting their watches
  // passed Node's (and the browser `events` package's) 10, which prints "Possible EventEmitter memory leak detected"
  // in the app's console. None leaks — each goes with its feed (a soak of hours of churn stayed flat).
  (db as unknown as { setMaxListeners?(n: number): void }).setMaxListeners?.(100);
  // Documents by id (pouchdb-find's matches, look-ups, chunks, export pages) in the LevelDB-based adapters: a `get`
  // each, not an iterator each (2–5× faster there; in Chromium's IndexedDB adapters PouchDB's own reads are faster).
  if (adapter === 'memory' || adapter === 'leveldb') readByIds(db as unknown as Parameters<typeof readByIds>[0]);
  // Other tabs may write to the same IndexedDB replica (sync/tabs-writes.ts).
  if (adapter === 'indexeddb') {
    shareWritesAcrossTabs(db, name);
    hearDropRequests();
    freshenQuietly(db);
    keepClosed(db);
  }
  return db;
}

/**
 * The `indexeddb` adapter makes a query's native index by closing its connection and opening it at a new version
 * (`_freshen`), while transactions of that connection are still running (the one that found the index missing, a
 * write, the changes feed): the new open is `blocked` until they end, which is harmless — and the adapter logs
 * "onblocked, this should never happen" with `console.error` (the first `find` of an index, in every tab). That one
 * message is left out while a `_freshen` runs; every other console output passes.
 */
function freshenQuietly(db: unknown): void {
  const raw = db as { _freshen?: () => Promise<void> };
  const freshen = raw._freshen;
  if (typeof freshen !== 'function') return;
  raw._freshen = () => {
    const original = console.error;
    const filtered = (...args: unknown[]) => {
      if (typeof args[0] !== 'string' || !args[0].startsWith('onblocked, this should never happen')) original.apply(console, args);
    };
    console.error = filtered;
    return freshen.call(raw).finally(() => {
      if (console.error === filtered) console.error = original;
    });
  };
}

/**
 * The `indexeddb` adapter opens its database again for any call made once this tab closed it — and opens it at a new
 * version, which closes every other tab's connection (their reads and writes in flight fail: "The database connection
 * is closing"), and after another tab deleted it (`logout({ destroyLocal: true })`) creates it again, empty, or leaves
 * this tab unable to open it again. Such calls come from work that began before the close (a checkpoint, a write
 * waiting for the tabs' write lock, a live changes feed: the adapter's `_changes` never unregisters one, so a feed
 * cancelled long ago still runs whenever another tab signals the database). Once this database object is closed or
 * destroyed, they fail with "database is closed" (a changes run finds nothing) instead.
 */
function keepClosed(db: unknown): void {
  const raw = db as Record<string, unknown> & { _closed?: boolean; _destroyed?: boolean };
  const shut = () => raw._closed === true || raw._destroyed === true;
  const changes = raw._changes as ((opts: { complete?: (error: unknown, result?: unknown) => void }) => unknown) | undefined;
  if (typeof changes === 'function') {
    raw._changes = (opts: { complete?: (error: unknown, result?: unknown) => void }) => {
      if (!shut()) return changes.call(raw, opts);
      opts.complete?.(null, { results: [], last_seq: 0 });
      return undefined;
    };
  }
  for (const name of CLOSED_CALLS) {
    const call = raw[name];
    if (typeof call !== 'function') continue;
    raw[name] = (...args: unknown[]) => {
      if (!shut()) return (call as (...a: unknown[]) => unknown).apply(raw, args);
      let callback: ((error: unknown) => void) | undefined;
      for (let i = args.length - 1; i >= 0 && !callback; i--) if (typeof args[i] === 'function') callback = args[i] as (error: unknown) => void;
      const error = Object.assign(new Error('database is closed'), { name: 'closed', status: 500 });
      if (callback) return void callback(error);
      return Promise.reject(error);
    };
  }
}

/** The `indexeddb` adapter's calls that open its database (all but `_close` and `_destroy`, which must still run). */
const CLOSED_CALLS = ['_info', '_id', '_get', '_getLocal', '_allDocs', '_bulkDocs', '_getRevisionTree', '_doCompaction', '_purge', '_getAttachment', '_openTransactionSafely', '_freshen'];

/** Where a context without `localStorage` (a Web Worker) asks the others to drop a deleted replica's change signals. */
const DROP_SIGNALS = 'feat-drop-signals';
let dropRequests: BroadcastChannel | undefined;

function localStorageOf(): Storage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    return undefined; // a sandboxed frame: PouchDB could not use it either
  }
}

/**
 * A context with `localStorage` hears the requests of {@link dropChangeSignals} for as long as it lives: a worker's
 * `logout({ destroyLocal: true })` closes this context's client first, and the signal that client set stays here.
 */
function hearDropRequests(): void {
  if (dropRequests || !localStorageOf() || typeof BroadcastChannel !== 'function') return;
  dropRequests = new BroadcastChannel(DROP_SIGNALS);
  // (Node with web storage: it must not keep the process alive.)
  (dropRequests as { unref?(): void }).unref?.();
  dropRequests.onmessage = (event: MessageEvent) => {
    if (typeof event.data === 'string') dropChangeSignals(event.data);
  };
}

/**
 * After a replica is deleted: PouchDB's cross-tab change signals in `localStorage` (`_pouch_<name>` and its query
 * indexes' `_pouch_<name>-mrview-…`, toggled on every write) go too — their keys name the user's database. A worker
 * has no `localStorage`: it asks the tabs (hearDropRequests).
 */
export function dropChangeSignals(name: string): void {
  const storage = localStorageOf();
  if (!storage) {
    if (typeof BroadcastChannel !== 'function') return;
    const channel = new BroadcastChannel(DROP_SIGNALS);
    channel.postMessage(name);
    channel.close();
    return;
  }
  const own = `_pouch_${name}`;
  for (let i = storage.length - 1; i >= 0; i--) {
    const key = storage.key(i);
    if (key === own || key?.startsWith(`${own}-mrview-`)) storage.removeItem(key);
  }
}
