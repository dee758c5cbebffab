import type { FeatApi } from './api/index.js';
import { lazyApi } from './api-lazy.js';
import { closedError, FeatError, toFeatError, type FeatError as FeatErrorType } from './errors.js';
import { resolveOptions, type FeatClientOptions, type ResolvedOptions } from './options.js';
import { defaultAdapter, openLocal, openRemote } from './pouch.js';
import { createAuthSource } from './session/auth.js';
import { SessionSource, type Session } from './session/session.js';
import type { Db } from './store/db.js';
import { DocumentStore, type ConflictEvent } from './store/store.js';
import { SyncController, type FeatSync } from './sync/controller.js';
import type { PushTracker } from './sync/push-tracker.js';
import type { Replicator } from './sync/replicator.js';
import type { SyncEvents, SyncStatus } from './sync/status.js';
import { LazyWatch } from './sync/lazy-watch.js';
import { createCouchFetch } from './transport/couch-fetch.js';
import { withSignal } from './util/abort.js';
import { Emitter } from './util/emitter.js';

export type { Session };

/** The document store: `client.store`. */
export type FeatStore = Pick<
  DocumentStore,
  'get' | 'set' | 'remove' | 'getItem' | 'setItem' | 'removeItem' | 'getParts' | 'setParts' | 'removeParts' | 'keys' | 'watch' | 'flush'
>;

export interface ReadyOptions {
  signal?: AbortSignal;
}

export interface LogoutOptions {
  /** Also delete the local replica (local-first mode), so no user data stays on the device. @default false */
  destroyLocal?: boolean;
}

export interface FeatClient {
  readonly store: FeatStore;
  readonly sync: FeatSync;
  /** Typed REST clients sharing the client's auth; present when `apiUrl` is set. */
  readonly api: FeatApi | undefined;
  /** The session once `ready()` resolved. */
  readonly session: Session | undefined;
  ready(options?: ReadyOptions): Promise<Session>;
  close(): Promise<void>;
  logout(options?: LogoutOptions): Promise<void>;
}

const SYNCED_MARKER = '_local/feat-synced';
const OWN_REVS_MAX = 20_000;

interface Replication {
  replicator: Replicator;
  tracker: PushTracker;
}

class Client implements FeatClient {
  readonly store: DocumentStore;
  readonly sync: SyncController;
  readonly api: FeatApi | undefined;
  session: Session | undefined;

  #options: ResolvedOptions;
  #lifetime = new AbortController();
  #sessionSource: SessionSource;
  #couchFetch: typeof fetch;
  #emitter: Emitter<SyncEvents>;
  #ready: Promise<Session> | undefined;
  #remote: Db | undefined;
  #local: Db | undefined;
  #localName: string | undefined;
  #replication: Replication | undefined;
  #watcher: LazyWatch;
  #ownRevs = new Set<string>();
  #closing: Promise<void> | undefined;
  #paused = false;
  #remoteStatus: SyncStatus = 'idle';
  #conflictChain: Promise<void> = Promise.resolve();
  #onOnline = () => this.#replication?.replicator.kick();

  constructor(options: FeatClientOptions) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.#emitter = new Emitter<SyncEvents>((error) => this.#reportError(toFeatError(error)));
    const auth = o.auth === undefined ? undefined : createAuthSource(o.auth);
    this.api =
      o.apiUrl === undefined || auth === undefined
        ? undefined
        : lazyApi({ apiUrl: o.apiUrl, accountsUrl: o.accountsUrl, auth, fetch: o.fetch });
    this.#sessionSource = new SessionSource({
      accountsUrl: o.accountsUrl,
      auth,
      session: o.session,
      fetch: o.fetch,
      signal: this.#lifetime.signal,
    });
    const session = this.#sessionSource;
    this.#couchFetch = createCouchFetch({
      couchUrl: o.couchUrl,
      fetch: o.fetch,
      maxRequestBytes: o.maxRequestBytes,
      auth: {
        headers: () => session.headers(),
        refresh: () => session.refresh(),
        succeeded: () => session.succeeded(),
      },
    });
    this.#watcher = new LazyWatch({
      db: () => this.#db(),
      isOwn: (id, rev) => this.#ownRevs.has(id + '\u0000' + rev),
      reassemble: async (change) => this.store.valueOf(await this.#db(), change.doc!),
      onError: (error) => this.#reportError(error),
    });
    this.store = new DocumentStore({
      db: () => this.#db(),
      onConflict: o.onConflict,
      conflictRetries: o.conflictRetries,
      revCacheSize: o.revCacheSize,
      maxDocumentBytes: o.maxDocumentBytes,
      maxRequestBytes: o.maxRequestBytes,
      chunkWaitMs: 5_000,
      concurrency: o.mode === 'remote' ? 4 : 1,
      emitConflict: (event: ConflictEvent) => this.#emitter.emit('conflict', event),
      wrote: (id, rev) => this.#rememberOwn(id, rev),
      isOwn: (id, rev) => this.#ownRevs.has(id + '\u0000' + rev),
      local: o.mode === 'local-first',
      watch: this.#watcher,
    });
    this.sync = new SyncController({
      emitter: this.#emitter,
      queued: () => this.store.pendingWrites,
      flush: () => this.store.flush(),
      ready: () => this.ready(),
      replication: () => this.#replication,
      remoteStatus: () => this.#remoteStatus,
      setPaused: (paused) => this.#setPaused(paused),
    });
  }

  ready(options: ReadyOptions = {}): Promise<Session> {
    if (this.#closing) return Promise.reject(closedError());
    if (!this.#ready) {
      const started = this.#start();
      this.#ready = started;
      // A failed ready() is forgotten, so the next call tries again.
      started.catch(() => {
        if (this.#ready === started) this.#ready = undefined;
      });
    }
    return withSignal(this.#ready, options.signal);
  }

  async #db(): Promise<Db> {
    if (this.#closing) throw closedError();
    await this.ready();
    const db = this.#options.mode === 'remote' ? this.#remote : this.#local;
    if (!db || this.#closing) throw closedError();
    return db;
  }

  async #start(): Promise<Session> {
    const o = this.#options;
    const signal = this.#lifetime.signal;
    this.#setRemoteStatus('connecting');
    try {
      const state = await this.#sessionSource.get();
      const { bootstrap } = await import('./session/bootstrap.js');
      await bootstrap({
        couchUrl: o.couchUrl,
        dbName: state.dbName,
        userName: state.userName,
        fetch: this.#couchFetch,
        timeout: o.bootstrapTimeout,
        signal,
      });
      if (this.#closing) throw closedError();
      const remote = openRemote(`${o.couchUrl}/${encodeURIComponent(state.dbName)}`, this.#couchFetch);
      this.#remote = remote;
      if (o.mode === 'local-first') await this.#startLocal(state.dbName, remote);
      this.#setRemoteStatus('idle');
      this.session = { userName: state.userName, dbName: state.dbName };
      return this.session;
    } catch (error) {
      const failure = toFeatError(error);
      this.#setRemoteStatus(failure.code === 'network' ? 'offline' : failure.code === 'unauthorized' || failure.code === 'forbidden' ? 'denied' : 'error');
      throw failure;
    }
  }

  async #startLocal(dbName: string, remote: Db): Promise<void> {
    const o = this.#options;
    const adapter = o.local?.adapter ?? defaultAdapter();
    const name =
      o.local?.name ?? (adapter === 'memory' ? `feat-${dbName}-${Math.random().toString(36).slice(2, 10)}` : `feat-${dbName}`);
    // The replication layer loads while the replica opens (remote-mode apps never load it).
    const [local, { PushTracker }, { Replicator }] = await Promise.all([
      openLocal(name, adapter),
      import('./sync/push-tracker.js'),
      import('./sync/replicator.js'),
    ]);
    this.#local = local;
    this.#localName = name;
    const tracker = new PushTracker(local, remote);
    const replicator = new Replicator(local, remote, {
      status: (status) => this.#emitter.emit('status', status),
      error: (error) => this.#reportError(error),
      pulled: (docs) => {
        for (const doc of docs) {
          tracker.pulled(doc._id, doc._rev);
          this.store.forget(doc._id);
        }
        this.#resolveConflicts(local, docs.map((d) => d._id));
      },
      pushed: () => undefined,
    });
    // A device that has never synced waits for its first pull, so that first reads see the user's data.
    const synced = await local.get(SYNCED_MARKER).catch(() => undefined);
    if (!synced) await this.#initialPull(local, remote, tracker);
    if (this.#closing) throw closedError();
    this.#replication = { replicator, tracker };
    if (!this.#paused) replicator.start();
    globalThis.addEventListener?.('online', this.#onOnline);
  }

  async #initialPull(local: Db, remote: Db, tracker: PushTracker): Promise<void> {
    const rep = (local as unknown as { replicate: { from(db: Db, o: object): PromiseLike<unknown> & { cancel(): void; on(e: string, l: (i: never) => void): void } } })
      .replicate.from(remote, { batch_size: 100 });
    rep.on('change', (info: { docs?: { _id: string; _rev: string }[] }) => {
      for (const doc of info.docs ?? []) tracker.pulled(doc._id, doc._rev);
    });
    const timer = setTimeout(() => rep.cancel(), this.#options.initialSyncTimeout);
    try {
      await rep;
      await local.put({ _id: SYNCED_MARKER, at: Date.now() } as never).catch(() => undefined);
    } catch (error) {
      // Offline or failing: start with what is local; live sync catches up.
      const failure = toFeatError(error);
      if (failure.code !== 'network') this.#reportError(failure);
    } finally {
      clearTimeout(timer);
    }
  }

  #resolveConflicts(local: Db, ids: string[]): void {
    this.#conflictChain = this.#conflictChain.then(async () => {
      // Loaded on first use: only replicated documents with conflicts need it.
      const { resolveLeaves } = await import('./sync/resolve-leaves.js');
      for (const id of ids) {
        if (this.#closing) return;
        try {
          await resolveLeaves(
            local,
            id,
            this.#options.onConflict,
            (event) => this.#emitter.emit('conflict', event),
            (doc) => this.store.valueOf(local, doc),
          );
        } catch (error) {
          this.#reportError(toFeatError(error, { key: id }));
        }
      }
    });
  }

  #rememberOwn(id: string, rev: string): void {
    this.#ownRevs.add(id + '\u0000' + rev);
    if (this.#ownRevs.size > OWN_REVS_MAX) this.#ownRevs.delete(this.#ownRevs.values().next().value!);
  }

  #reportError(error: FeatErrorType): void {
    if (this.#emitter.listenerCount('error') > 0) this.#emitter.emit('error', error);
    else if (!(error instanceof FeatError && error.code === 'network')) {
      // Never swallowed: without an error listener, background failures are logged.
      console.warn(`[@feat/sdk] ${error.code}: ${error.message}`);
    }
  }

  #setRemoteStatus(status: SyncStatus): void {
    if (this.#options.mode !== 'remote' || this.#remoteStatus === status) return;
    this.#remoteStatus = status;
    this.#emitter.emit('status', status);
  }

  #setPaused(paused: boolean): void {
    if (this.#closing) return;
    this.#paused = paused;
    const rep = this.#replication?.replicator;
    if (!rep) return;
    if (paused) void rep.stop();
    else rep.start();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Writes made before close() are stored first; a failure of theirs was already reported to their callers.
    await this.store.flush().catch(() => undefined);
    await this.#conflictChain;
    globalThis.removeEventListener?.('online', this.#onOnline);
    await this.#replication?.replicator.stop();
    await this.#watcher.close();
    this.#lifetime.abort(closedError());
    await Promise.allSettled([this.#local?.close(), this.#remote?.close()]);
    this.#emitter.clear();
  }

  async logout(options: LogoutOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new TypeError('logout() takes an options object');
    await this.close();
    if (options.destroyLocal && this.#localName) {
      const adapter = this.#options.local?.adapter ?? defaultAdapter();
      const db = await openLocal(this.#localName, adapter);
      await db.destroy();
      this.#localName = undefined;
    }
    this.session = undefined;
  }
}

/** Creates a client for one user. Nothing happens on the network until `ready()` or the first store call. */
export function createFeatClient(options: FeatClientOptions): FeatClient {
  return new Client(options);
}
