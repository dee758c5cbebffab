/**
 * The emulator's private storage: a PouchDB constructor of its own (memory, or LevelDB under `dataDir`) with a unique
 * name prefix, so it never shares databases with client code in the same process or with another emulator, and the
 * registry of which databases exist (used instead of pouchdb-all-dbs, whose global event listeners would register
 * every database created anywhere in the process).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import PouchDB from 'pouchdb-core';

const require = createRequire(import.meta.url);

export type Database = PouchDB.Database<Record<string, unknown>>;

/** The per-instance PouchDB constructor, with the static `allDbs` express-pouchdb relies on. */
export type EmulatorPouch = PouchDB.Static & {
  allDbs: (callback?: (err: unknown, names?: string[]) => void) => Promise<string[]>;
  __dbCacheMap: Map<string, Database>;
};

/** PouchDB's adapter registry (missing from its type definitions). */
const adapters = () => (PouchDB as unknown as { adapters: Record<string, unknown> }).adapters;

let adaptersLoaded: Promise<void> | undefined;
function loadMemoryAdapter(): Promise<void> {
  adaptersLoaded ??= Promise.resolve().then(() => {
    if (!('memory' in adapters())) PouchDB.plugin(require('pouchdb-adapter-memory') as PouchDB.Plugin);
  });
  return adaptersLoaded;
}

/**
 * The `dataDir`s an emulator of this process holds open. LevelDB stores are shared by path within a process, so a
 * second emulator on the same directory would close the first one's databases when it stops.
 */
const openDirs = new Set<string>();

/** CouchDB's `_revs_limit` of a new database. */
export const DEFAULT_REVS_LIMIT = 1000;

/** Where earlier emulators kept a database's identity: a `_local` document of its own (its users could reach it). */
const OLD_MARKER = '_local/feat-emulator-created';
/** The emulator's own database of the databases' identities (storage.ts `#identity`). */
const IDENTITIES = 'feat-emulator-identities';

interface Identity {
  /** CouchDB's `instance_start_time`: the second it was made. */
  at: string;
  /** Random for each database made (fidelity.ts: its sequences name it). */
  uid: string;
}

export class Storage {
  readonly Pouch: EmulatorPouch;
  readonly #known = new Set<string>();
  /** Each database's update sequence when this process opened it (validation-funs.ts: CouchDB's shards open so). */
  readonly #openedSeq = new Map<string, number>();
  /** Each database's identity as made ({@link instance}, {@link createdAt}). */
  readonly #identities = new Map<string, Identity>();
  /** The store of identities, once opened. */
  #meta: Database | undefined;
  readonly #persistent: boolean;
  /** The resolved `dataDir` this storage holds (in {@link openDirs} until closed). */
  readonly #dir: string | undefined;

  private constructor(Pouch: EmulatorPouch, dir: string | undefined) {
    this.Pouch = Pouch;
    this.#persistent = dir !== undefined;
    this.#dir = dir;
  }

  static async open(dataDir: string | undefined): Promise<Storage> {
    let defaults: PouchDB.Configuration.DatabaseConfiguration & { prefix: string };
    if (dataDir === undefined) {
      await loadMemoryAdapter();
      defaults = { adapter: 'memory', prefix: `feat-emu-${randomBytes(6).toString('hex')}-` } as typeof defaults;
    } else {
      const dir = path.resolve(dataDir);
      if (openDirs.has(dir)) {
        throw new Error(
          `dataDir "${dir}" is in use by another emulator of this process: stop that one first, or give each emulator a dataDir of its own`,
        );
      }
      await mkdir(dir, { recursive: true });
      if (!('leveldb' in adapters())) PouchDB.plugin(require('pouchdb-adapter-leveldb') as PouchDB.Plugin);
      defaults = { adapter: 'leveldb', prefix: `${dir}${path.sep}` } as typeof defaults;
    }
    const Pouch = PouchDB.defaults(defaults) as unknown as EmulatorPouch;
    const dir = dataDir === undefined ? undefined : path.resolve(dataDir);
    const storage = new Storage(Pouch, dir);
    if (dir !== undefined) openDirs.add(dir);
    Pouch.__dbCacheMap = new Map();
    Pouch.allDbs = (callback) => {
      const names = storage.names();
      callback?.(null, names);
      return Promise.resolve(names);
    };
    return storage;
  }

  /** True when the database exists (was created and not deleted). */
  exists(name: string): boolean {
    return this.#known.has(name);
  }

  names(): string[] {
    return [...this.#known].sort();
  }

  /** The shared handle of a database (the same object express-pouchdb uses); does not register it. */
  db(name: string): Database {
    let db = this.Pouch.__dbCacheMap.get(name);
    if (!db) {
      // CouchDB's default `_revs_limit` (PouchDB's own default keeps every revision).
      db = new this.Pouch(name, { revs_limit: DEFAULT_REVS_LIMIT } as PouchDB.Configuration.DatabaseConfiguration) as Database;
      // One live feed per waiting client (continuous, long polls, the SDK's devices): Node's default of 10 listeners
      // printed MaxListenersExceededWarning for a dozen of them.
      (db as unknown as { setMaxListeners?: (n: number) => void }).setMaxListeners?.(1_000);
      this.Pouch.__dbCacheMap.set(name, db);
    }
    return db;
  }

  /** Handles replaced by {@link setRevsLimit}: still open (they share the store), closed with the rest. */
  readonly #retired: Database[] = [];

  /**
   * Applies CouchDB's `_revs_limit` to later writes (their revision trees are stemmed to `limit` revisions): PouchDB
   * reads `revs_limit` once, when a handle opens, so the database gets a new handle with it (the same store: an open
   * store is shared by name), which replaces the old one for every later request. The old one stays open, as feeds
   * may still listen through it.
   */
  async setRevsLimit(name: string, limit: number): Promise<void> {
    const handle = new this.Pouch(name, { revs_limit: limit } as PouchDB.Configuration.DatabaseConfiguration) as Database;
    (handle as unknown as { setMaxListeners?: (n: number) => void }).setMaxListeners?.(1_000);
    await handle.info();
    const old = this.Pouch.__dbCacheMap.get(name);
    if (old) this.#retired.push(old);
    this.Pouch.__dbCacheMap.set(name, handle);
  }

  /** Calls of {@link create} under way, by name: two at once make one database (one identity). */
  readonly #creating = new Map<string, Promise<Database>>();

  /** Creates (or opens) a database and registers it as existing. */
  create(name: string): Promise<Database> {
    let creating = this.#creating.get(name);
    if (!creating) {
      creating = this.#create(name).finally(() => this.#creating.delete(name));
      this.#creating.set(name, creating);
    }
    return creating;
  }

  async #create(name: string): Promise<Database> {
    const db = this.db(name);
    const info = await db.info();
    if (!this.#openedSeq.has(name)) this.#openedSeq.set(name, Number(info.update_seq) || 0);
    // When it was made (CouchDB's `instance_start_time`: a database deleted and made again has a new one) and its
    // identity, named by its sequences (fidelity.ts): random for each database made, kept with `dataDir` — in the
    // emulator's own store, out of the users' reach (a `_local` document of theirs could be read and deleted).
    this.#identities.set(name, await this.#identity(name, db));
    this.#known.add(name);
    return db;
  }

  /** The identity of the database as made (its sequences name it, as CouchDB's name their shards: fidelity.ts). */
  instance(name: string): string {
    return this.#identities.get(name)?.uid ?? '';
  }

  /** The second the database was made (CouchDB's `instance_start_time`), `'0'` when unknown. */
  createdAt(name: string): string {
    return this.#identities.get(name)?.at ?? '0';
  }

  /** The emulator's own store of identities (not a database any request can name: it is never registered). */
  #identityStore(): Database {
    return (this.#meta ??= new this.Pouch(IDENTITIES) as Database);
  }

  async #identity(name: string, db: Database): Promise<Identity> {
    const store = this.#identityStore();
    const id = `db:${name}`;
    const kept = (await store.get(id).catch(() => undefined)) as (Identity & { _rev: string }) | undefined;
    if (kept && typeof kept.uid === 'string' && typeof kept.at === 'string') return { uid: kept.uid, at: kept.at };
    // A database an earlier emulator made kept its identity in a `_local` document of its own: moved here.
    const old = (await db.get(OLD_MARKER).catch(() => undefined)) as { _rev?: string; at?: unknown; uid?: unknown } | undefined;
    const identity: Identity =
      typeof old?.at === 'string'
        ? { at: old.at, uid: typeof old.uid === 'string' ? old.uid : `at-${old.at}` }
        : { at: String(Math.floor(Date.now() / 1000)), uid: randomBytes(12).toString('base64url') };
    await store.put({ _id: id, ...identity } as never).catch(() => undefined);
    if (old) await db.remove(OLD_MARKER, old._rev ?? '0-1').catch(() => undefined);
    return identity;
  }

  /** The database's update sequence when this process opened it (0 for one it has not). */
  openedSeq(name: string): number {
    return this.#openedSeq.get(name) ?? 0;
  }

  /** Closes every database; in memory, also drops their data. */
  async close(): Promise<void> {
    const dbs = [...this.Pouch.__dbCacheMap.values()];
    this.Pouch.__dbCacheMap.clear();
    this.#known.clear();
    this.#openedSeq.clear();
    this.#identities.clear();
    const meta = this.#meta;
    this.#meta = undefined;
    await Promise.all([...dbs, ...(meta ? [meta] : [])].map((db) => (this.#persistent ? db.close() : db.destroy()).catch(() => undefined)));
    // Retired handles shared a store with one of those: it is closed (or gone) already.
    await Promise.all(this.#retired.splice(0).map((db) => db.close().catch(() => undefined)));
    if (this.#dir !== undefined) openDirs.delete(this.#dir);
  }
}
