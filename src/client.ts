import type { FeatApi } from './api/index.js';
import { lazyApi } from './api-lazy.js';
import { abortError, closedError, FeatError, isFeatError, listenerError, toFeatError, type FeatError as FeatErrorType } from './errors.js';
import type { Extras } from './export/lazy.js';
import type { ExportOptions, ImportOptions, ImportResult, ImportSource } from './export/types.js';
import type { FeatMaintenance } from './maintenance/scheduler.js';
import { resolveOptions, type FeatClientOptions, type ResolvedOptions } from './options.js';
import { remoteDb } from './transport/remote-db.js';
import { createAuthSource, type AuthSource } from './session/auth.js';
import { isSwitchRefusal, SessionSource, type Session } from './session/session.js';
import type { Db } from './store/db.js';
import { checkOptions, DocumentStore, type ConflictEvent, type SetOptions, type SetPartsOptions, type SignalOptions } from './store/store.js';
import type { JsonCompatible, StoredAs, ValueFor } from './store/typed.js';
import { SyncController, type FeatSync } from './sync/controller.js';
import type { LocalFirst } from './sync/local-first.js';
import type { StorageInfo } from './sync/device-storage.js';
import { statusForError, type SyncEvents, type SyncStatus } from './sync/status.js';
import { LazyWatch } from './sync/lazy-watch.js';
import { logoutStarted, logoutsUnderWay } from './sync/logouts.js';
import { createCouchFetch, type AcceptedWrite } from './transport/couch-fetch.js';
import { checkSignal, LATE, manyListeners, within, withSignal } from './util/abort.js';
import { Emitter } from './util/emitter.js';

export type { Session };

/**
 * The document store: `client.store`. `S` is the optional schema given to `createFeatClient<S>()` (key → value type):
 * `get()` and `set()` of a key it names are typed by it; other keys are `unknown` unless a type is given.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- {}: no schema, every key is free
export interface FeatStore<S extends {} = {}>
  extends Pick<DocumentStore, 'remove' | 'getItem' | 'setItem' | 'removeItem' | 'getParts' | 'removeParts' | 'keys' | 'watch' | 'flush' | 'find' | 'createIndex' | 'watchQuery'> {
  /**
   * Reads a value; `undefined` when absent, deleted or expired. Sees this client's own unwritten values. `signal` ends
   * the call's wait (`aborted`).
   */
  get<T = unknown, K extends string = string>(key: K, options?: SignalOptions): Promise<StoredAs<S, K, T> | undefined>;
  /**
   * Writes a JSON value (a `Date`, a function or `undefined` does not compile); resolves once it is durable. `signal`
   * ends the call's wait, not the write once queued.
   */
  set<K extends string, T>(key: K, value: ValueFor<S, K, T>, options?: SetOptions): Promise<void>;
  /**
   * Writes the parts whose content changed (each its own document and revision); `replace` deletes the others. Each
   * part is a JSON value, as `set()`'s (a `Date` does not compile).
   */
  setParts<T>(key: string, parts: Record<string, T & JsonCompatible<T>>, options?: SetPartsOptions): Promise<void>;
}

export interface ReadyOptions {
  signal?: AbortSignal | undefined;
}

export interface LogoutOptions {
  /** Also delete the local replica (local-first mode), so no user data stays on the device. @default false */
  destroyLocal?: boolean | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- {}: no schema
export interface FeatClient<S extends {} = {}> {
  readonly store: FeatStore<S>;
  readonly sync: FeatSync;
  /** Typed REST clients sharing the client's auth; present when `apiUrl` is set. */
  readonly api: FeatApi | undefined;
  /** The session once `ready()` resolved. */
  readonly session: Session | undefined;
  /** Scheduled upkeep: purge of expired values, chunk garbage collection, replica compaction (docs/export.md). */
  readonly maintenance: FeatMaintenance;
  ready(options?: ReadyOptions): Promise<Session>;
  /** Every key of the account as NDJSON: a header line, then one line per key (docs/export.md). */
  exportData(options?: ExportOptions & { format?: 'text' | undefined }): Promise<string>;
  /**
   * The same export as an async iterable of its lines (without line breaks), for streaming it to a file: memory stays
   * bounded by a page of documents.
   */
  exportData(options: ExportOptions & { format: 'lines' }): Promise<AsyncIterable<string>>;
  /** Restores an export into this account (every line validated first; see docs/export.md for the guarantees). */
  importData(data: ImportSource, options?: ImportOptions): Promise<ImportResult>;
  /**
   * How much room the local replica has: `{ usage?, quota?, persisted?, full? }`, estimates where the platform gives
   * them (browsers: the site's usage and quota; Node `leveldb`: the replica's files and the disk's free space).
   */
  storage(): Promise<StorageInfo>;
  close(): Promise<void>;
  logout(options?: LogoutOptions): Promise<void>;
}

type LocalFirstClass = typeof LocalFirst;

/**
 * A 2xx is a good answer once its body reads as JSON: a captive portal's page or a truncated answer comes with 200 too
 * (the call rejects `bad_response`, and the status must not say `idle` meanwhile). Remote-mode answers are read with
 * `json()` (transport/remote-db.ts, body-limit.ts); one read as a stream (a query's pages) counts as it is taken.
 */
function goodOnceRead(response: Response, failed: (error: unknown) => void, good: () => void): Response {
  const json = response.json.bind(response);
  const body = response.body;
  let told = false;
  const tell = (error?: unknown) => {
    if (told) return;
    told = true;
    if (error === undefined) good();
    else failed(error);
  };
  Object.defineProperties(response, {
    json: {
      configurable: true,
      value: () => {
        const read = json();
        // (Only the outcome of the first read counts.)
        read.then(() => tell(), (error: unknown) => tell(error));
        return read;
      },
    },
    body: {
      configurable: true,
      get: () => {
        tell();
        return body;
      },
    },
  });
  return response;
}

const OWN_REVS_MAX = 20_000;

/** A revision's generation (`3-abc…` → 3; 0 for anything else). */
const generation = (rev: string): number => Number.parseInt(rev, 10) || 0;

class Client implements FeatClient {
  readonly store: DocumentStore;
  readonly sync: SyncController;
  readonly api: FeatApi | undefined;
  // Assigned in the constructor (declared only: no class field code in the bundle).
  declare readonly maintenance: FeatMaintenance;
  declare readonly exportData: FeatClient['exportData'];
  declare readonly importData: FeatClient['importData'];
  session: Session | undefined;

  #options: ResolvedOptions;
  #lifetime = new AbortController();
  /**
   * Ends the transport (every request in flight, every resend: `closed`) once close() is done with the server: with the
   * lifetime, but never before the memory replica's last push (the lifetime ends early when the writes are late).
   */
  #sending = new AbortController();
  #sessionSource: SessionSource;
  #couchFetch: typeof fetch;
  #emitter: Emitter<SyncEvents>;
  #ready: Promise<Session> | undefined;
  #remote: Db | undefined;
  #localFirst: LocalFirst | undefined;
  #watcher: LazyWatch;
  #ownRevs = new Set<string>();
  /**
   * Remote mode: the generation of the newest value this client wrote, per id (bounded like `#ownRevs`); a deletion
   * sets it to 0, so that a value another device brings back (a branch winning over the tombstone) is always reported,
   * and a read of many documents that finds the id live looks at it (StoreContext.removedHere).
   */
  #ownGeneration = new Map<string, number>();
  #closing: Promise<void> | undefined;
  /** Set once close() has flushed: from then on nothing reaches the databases. */
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Set once close() has closed everything: the status is `paused` from then on, whatever was in flight. */
  #shut = false;
  #paused = false;
  /** The next token request may skip the backoff after a failed one: the app called ready() (see #connect). */
  #askAgain = false;
  /** Starts and reconnections under way (their bootstrap's requests are not checked for a database gone). */
  #connecting = 0;
  /** The last start was refused `forbidden`: see #db. */
  #refused: FeatErrorType | undefined;
  #status: SyncStatus = 'paused';
  /** The last status emitted. */
  #published: SyncStatus = 'paused';
  #listening = false;
  #browserOffline = false;
  #onOffline = () => {
    this.#browserOffline = true;
    this.#publish();
  };
  #onOnline = () => {
    this.#browserOffline = false;
    this.#publish();
  };
  #auth: AuthSource | undefined;
  /** While close() flushes: called for every write stored. */
  #onStored: ((id: string) => void) | undefined;
  /** Loads export, import and maintenance (`due`: by the maintenance timer, so a run is due now). */
  #extras: (due?: boolean) => Promise<Extras>;
  #loaded: Promise<Extras> | undefined;

  constructor(options: FeatClientOptions) {
    manyListeners(this.#lifetime.signal);
    manyListeners(this.#sending.signal);
    this.#options = resolveOptions(options);
    const o = this.#options;
    if (o.mode === 'local-first') this.#logoutsBefore = logoutsUnderWay();
    // A listener that throws (or whose promise rejects) is reported as an error event, told apart as `listener`; one
    // of the error event itself is logged (reporting it again would loop; README: nothing escapes to the process).
    this.#emitter = new Emitter<SyncEvents>((error, event) => {
      if (event === 'error') console.error('[@feat/sdk] an `error` listener failed; the SDK carried on:', error);
      else this.#reportError(listenerError(error));
    });
    // One provider call may take requestTimeout at most; one that did not answer is forgotten and asked again later.
    const auth = o.auth === undefined ? undefined : createAuthSource(o.auth, { timeout: o.requestTimeout });
    this.#auth = auth;
    this.api =
      o.apiUrl === undefined || auth === undefined
        ? undefined
        : lazyApi(
            { apiUrl: o.apiUrl, accountsUrl: o.accountsUrl, auth, fetch: o.fetch, timeout: o.requestTimeout, signal: this.#lifetime.signal },
            () => this.#closing !== undefined,
          );
    this.#sessionSource = new SessionSource({
      accountsUrl: o.accountsUrl,
      auth,
      session: o.session,
      fetch: o.fetch,
      requestTimeout: o.requestTimeout,
      signal: this.#lifetime.signal,
    });
    const session = this.#sessionSource;
    const couchFetch = createCouchFetch({
      couchUrl: o.couchUrl,
      fetch: o.fetch,
      maxRequestBytes: o.maxRequestBytes,
      requestTimeout: o.requestTimeout,
      // close() ends every request in flight (`closed`) and every resend: a closed client sends nothing.
      signal: this.#sending.signal,
      accepted: (info: AcceptedWrite) => {
        this.sync.accepted++;
        this.#emitter.emit('accepted', info);
      },
      auth: {
        headers: () => session.headers(),
        refresh: (refused) => session.refresh(refused),
        succeeded: () => session.succeeded(),
      },
    });
    // The user's database gone under a running client: signed up again as a start would, and the request sent again
    // once (a body that cannot be sent twice is not). Loaded with the first 404 of a request to it.
    // (Not while a start or reconnection runs its own bootstrap, whose requests come here too.)
    const dbUrl = () => (this.session && !this.#closing && this.#connecting === 0 ? `${o.couchUrl}/${encodeURIComponent(this.session.dbName)}` : undefined);
    let goneCheck: Promise<(input: RequestInfo | URL, response: Response) => Promise<boolean | 'gone'>> | undefined;
    const gone = async (input: RequestInfo | URL, response: Response): Promise<boolean | 'gone'> => {
      if (dbUrl() === undefined) return false;
      goneCheck ??= import('./session/database-gone.js').then(({ databaseGone }) =>
        databaseGone({
          dbUrl,
          bootstrap: async () => {
            const { bootstrap } = await import('./session/bootstrap.js');
            const { userName, dbName } = this.session!;
            await bootstrap({ couchUrl: o.couchUrl, dbName, userName, fetch: couchFetch, timeout: o.bootstrapTimeout, signal: this.#lifetime.signal });
          },
          report: (error) => this.#reportError(error),
          signal: this.#lifetime.signal,
        }),
      );
      try {
        return await (await goneCheck)(input, response);
      } catch {
        // The module could not load (the app's files replaced by a deploy, its host out of reach): the 404 stands as
        // it is, and the next one tries again.
        goneCheck = undefined;
        return false;
      }
    };
    /** The response, and whether it says the user's database is gone and could not be made again. */
    const send = async (input: RequestInfo | URL, init?: RequestInit): Promise<[Response, boolean]> => {
      const response = await couchFetch(input, init);
      if (response.status !== 404 || !(init?.body == null || typeof init.body === 'string')) return [response, false];
      const made = await gone(input, response);
      if (made !== true) return [response, made === 'gone'];
      await response.body?.cancel().catch(() => undefined);
      return [await couchFetch(input, init), false];
    };
    // Remote mode has no replication to report on its connection: its requests do (after the transport's own
    // refresh and retry, so a 401 that a new token fixed never shows).
    this.#couchFetch = async (input, init) => {
      // A request ended by its caller or by close() says nothing about the server.
      const failed = (error: unknown) => {
        if (o.mode === 'remote' && this.session && !init?.signal?.aborted && !this.#sending.signal.aborted) this.#setStatus(statusForError(toFeatError(error)));
      };
      try {
        const [response, lost] = await send(input, init);
        if (o.mode === 'remote' && this.session) {
          const s = response.status;
          // A redirect (never followed: couch-fetch.ts) is no answer of CouchDB's.
          if (s === 401 || s === 403) this.#setStatus('denied');
          // The user's database gone and not made again: every call fails until it is.
          else if (lost) this.#setStatus('error');
          else if (s >= 500 || (s >= 300 && s < 400)) this.#setStatus('error');
          else if (!response.ok) this.#setStatus('idle');
          else return goodOnceRead(response, failed, () => this.#setStatus('idle'));
        }
        return response;
      } catch (error) {
        // `offline` only when the server could not be reached: a refused token is `denied`.
        failed(error);
        throw error;
      }
    };
    this.#watcher = new LazyWatch({
      db: () => this.#db(),
      dbNow: () => (this.#refused ? undefined : this.#dbNow()),
      opened: () => (o.mode === 'local-first' ? this.#opened.promise : undefined),
      isOwn: (id, rev) => this.#isOwn(id, rev),
      lostOwn: (id, doc) => this.store.wasUnanswered(id, doc),
      supersededByOwn: (id, rev) => generation(rev) < (this.#ownGeneration.get(id) ?? 0),
      writing: (id) => this.store.writing(id),
      reassemble: async (change) => this.store.valueOf(await this.#db(), change.doc!),
      // Conflicting leaves on the server: the store's read resolves them (a replica's, the replicator after its pull).
      resolve: o.mode === 'remote' ? (id) => this.store.get(id) : undefined,
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
      dbNow: () => this.#dbNow(),
      concurrency: o.mode === 'remote' ? 4 : 1,
      emitConflict: (event: ConflictEvent) => this.#emitter.emit('conflict', event),
      wrote: (id, rev, deleted) => this.#rememberOwn(id, rev, deleted),
      isOwn: (id, rev) => this.#isOwn(id, rev),
      // (A removal is kept as generation 0: see #rememberOwn.)
      removedHere: (id) => this.#ownGeneration.get(id) === 0,
      removalRead: (id) => this.#ownGeneration.get(id) === 0 && this.#ownGeneration.delete(id),
      local: o.mode === 'local-first',
      closing: () => this.#closing !== undefined,
      closed: this.#lifetime.signal,
      watch: this.#watcher,
      queueChanged: () => {
        this.sync.recount();
        this.#localFirst?.wrote();
      },
      reportError: (error) => this.#reportError(error),
      indexes: o.indexes,
      complete: async () => o.mode === 'remote' || ((await this.#localFirst?.complete()) ?? false),
      server: () => this.#localFirst?.server(),
      resolution: (id) => this.#localFirst?.resolution(id),
      connected: () => ['idle', 'active'].includes(this.#localFirst?.status ?? 'paused'),
    });
    this.sync = new SyncController({
      emitter: this.#emitter,
      queued: () => this.store.pendingWrites,
      flush: () => this.store.flush(),
      ready: () => this.ready(),
      closed: () => this.#closing !== undefined,
      lifetime: this.#lifetime.signal,
      localFirst: () => this.#localFirst,
      status: () => this.#effectiveStatus(),
      // (Not before the replica is open, nor once the client is closed: it syncs nothing then.)
      leader: () => !this.#closed && (this.#localFirst?.leading ?? o.mode !== 'local-first'),
      setPaused: (paused) => this.#setPaused(paused),
    });
    // Export, import and maintenance load on first use; maintenance keeps only an unref'd timer up front.
    const m = o.maintenance;
    if (m?.enabled !== false) {
      this.#timer = setTimeout(() => this.#closing || this.#extras(true), m?.intervalMs ?? 300_000);
      (this.#timer as { unref?(): void }).unref?.();
    }
    const later =
      <K extends keyof Extras>(name: K) =>
      (...args: unknown[]) =>
        this.#extras().then((x) => (x[name] as (...a: unknown[]) => unknown)(...args)) as never;
    this.exportData = later('exportData');
    this.importData = later('importData');
    this.maintenance = {
      on: (event, listener) => this.#emitter.on(event, listener as (event: unknown) => void),
      run: later('run'),
      // They return nothing (an unmount's cleanup calls them): after close() they do nothing, and nothing rejects.
      pause: () => void this.#extras().then((x) => x.pause(), (e: unknown) => this.#closing || this.#reportError(toFeatError(e))),
      resume: () => void this.#extras().then((x) => x.resume(), (e: unknown) => this.#closing || this.#reportError(toFeatError(e))),
    };
    this.#extras = (due) =>
      this.#closing
        ? Promise.reject(closedError())
        : (this.#loaded ??= import('./export/lazy.js').then((x) =>
        x.extras(this, o, due, this.#emitter, () => this.#db(), (id, rev, deleted) => this.#rememberOwn(id, rev, deleted)),
      ));
  }

  ready(options?: ReadyOptions): Promise<Session> {
    if (this.#closing) return Promise.reject(closedError());
    let signal;
    try {
      signal = checkOptions(options, 'ready').signal;
      checkSignal(signal);
      // Aborted already: no start, no request.
      if (signal?.aborted) throw abortError(signal);
    } catch (error) {
      return Promise.reject(error);
    }
    // The app's own ready() asks the accounts service again even within the backoff after a failed token request, and
    // starts a client whose start was refused.
    this.#askAgain = true;
    this.#refused = undefined;
    return withSignal(this.#begin(), signal);
  }

  /** Starts the session once (a failed start is forgotten, so the next call tries again). */
  #begin(): Promise<Session> {
    if (!this.#ready) {
      const started = this.#start();
      this.#ready = started;
      started.catch(() => {
        if (this.#ready === started) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  storage(): Promise<StorageInfo> {
    if (this.#closing) return Promise.reject(closedError());
    return this.#localFirst?.storage() ?? import('./sync/device-storage.js').then((m) => m.storageInfo());
  }

  /** The database for store calls when it is open and ready, else `undefined`. */
  #dbNow(): Db | undefined {
    const db = this.#options.mode === 'remote' ? this.#remote : this.#localFirst?.local;
    return db && this.session && !this.#closed ? db : undefined;
  }

  /** The database for store calls; while close() flushes, the writes made before it still get through. */
  #db(): Promise<Db> {
    if (this.#closed) return Promise.reject(closedError());
    // A local-first start refused `forbidden` (another account's replica, say): only the app's ready() starts it again —
    // not a watch's retry nor a store call, which signed it in by itself once that replica was gone (and took it over).
    if (this.#refused) return Promise.reject(this.#refused);
    // Ready already: no detour through the ready() promise on every call.
    const db = this.#dbNow();
    if (db) return Promise.resolve(db);
    // A write made before close() (even before ready()) is stored while close() flushes: the session starts for it.
    return this.#begin().then(() => {
      const opened = this.#dbNow();
      if (!opened) throw closedError();
      return opened;
    });
  }

  #newLocalFirst(LocalFirst: LocalFirstClass): LocalFirst {
    return new LocalFirst({
      options: this.#options,
      store: this.store,
      connect: (named) => this.#connect(named),
      expectAccount: (session) => this.#sessionSource.expect(session),
      // Ended by close(), so that a provider that never answers does not hold ready() for requestTimeout (logout's
      // wipe of a replica never opened asks after close(): unbounded by it).
      authorization: () => withSignal(this.#auth?.get() ?? Promise.resolve(undefined), this.#closed ? undefined : this.#lifetime.signal),
      couchFetch: this.#couchFetch,
      status: () => this.#publish(),
      pendingChanged: () => this.sync.recount(),
      initialSync: (event) => this.#emitter.emit('initialSync', event),
      error: (error) => this.#reportError(error),
      conflict: (event) => this.#emitter.emit('conflict', event),
      closeRequested: () => {
        this.#reportError(new FeatError('closed', 'Another tab called logout({ destroyLocal: true }): this client is closed; create a new client to sign in again'));
        void this.close();
      },
      signal: this.#lifetime.signal,
      logoutsBefore: this.#logoutsBefore,
      opened: (info) => this.#opened.resolve(info),
    });
  }

  /** Token (single flight) and bootstrap: the user and their database exist. `named`: told the token's session first. */
  async #connect(named?: (session: Session) => void): Promise<Session> {
    this.#connecting++;
    try {
      return await this.#connectNow(named);
    } finally {
      this.#connecting--;
    }
  }

  async #connectNow(named?: (session: Session) => void): Promise<Session> {
    const o = this.#options;
    // ready() asks the accounts service again even within the backoff after a refusal; a store call that starts the
    // session (or a reconnection) does not: one call each would be a request each.
    const retry = this.#askAgain;
    this.#askAgain = false;
    const state = await this.#sessionSource.get(retry);
    named?.({ userName: state.userName, dbName: state.dbName });
    const { bootstrap } = await import('./session/bootstrap.js');
    await bootstrap({
      couchUrl: o.couchUrl,
      dbName: state.dbName,
      userName: state.userName,
      fetch: this.#couchFetch,
      timeout: o.bootstrapTimeout,
      signal: this.#lifetime.signal,
    });
    if (this.#closed) throw closedError();
    return { userName: state.userName, dbName: state.dbName };
  }

  async #start(): Promise<Session> {
    const o = this.#options;
    if (!this.#listening) {
      this.#listening = true;
      this.#browserOffline = globalThis.navigator?.onLine === false;
      globalThis.addEventListener?.('offline', this.#onOffline);
      globalThis.addEventListener?.('online', this.#onOnline);
    }
    this.#setStatus('connecting');
    try {
      if (o.mode === 'local-first') {
        // The replication layer loads while the token is fetched (remote-mode apps never load it).
        const { LocalFirst } = await import('./sync/local-first.js');
        if (this.#closed) throw closedError();
        this.#localFirst ??= this.#newLocalFirst(LocalFirst);
        // (close() came while the local-first code loaded: its start does not wait for the network either.)
        if (this.#waitsEnded) this.#localFirst.endWaits();
        if (this.#paused) this.#localFirst.setPaused(true);
        this.session = await this.#localFirst.open();
      } else {
        const session = await this.#connect();
        this.#remote = remoteDb(`${o.couchUrl}/${encodeURIComponent(session.dbName)}`, this.#couchFetch);
        this.session = session;
        this.#setStatus('idle');
      }
      this.store.prepareIndexes();
      // (The `pending` count of a replica just opened: and, in a browser, the other tabs' writes to it are heard now.)
      this.sync.recount();
      // A watch that stopped at a refused start (sync/watch.ts) goes on now that the app's call got the client ready.
      this.#watcher.resume();
      return this.session;
    } catch (error) {
      // Ended by close(): `closed` (not the `aborted` of a wait cut by the lifetime signal), and the status stays as
      // close() leaves it (`paused`).
      if (this.#closing !== undefined && (this.#lifetime.signal.aborted || this.#closed)) throw closedError();
      const failure = toFeatError(error);
      // (A token of another account is passing: the provider may answer for this one again.)
      if (failure.code === 'forbidden' && o.mode === 'local-first' && !isSwitchRefusal(failure)) this.#refused = failure;
      if (this.#closing === undefined) {
        this.#setStatus(failure.code === 'network' ? 'offline' : failure.code === 'unauthorized' || failure.code === 'forbidden' ? 'denied' : 'error');
      }
      throw failure;
    }
  }

  #isOwn(id: string, rev: string): boolean {
    return this.#ownRevs.has(id + '\u0000' + rev);
  }

  #rememberOwn(id: string, rev: string, deleted = false): void {
    this.#onStored?.(id);
    this.#ownRevs.add(id + '\u0000' + rev);
    if (this.#ownRevs.size > OWN_REVS_MAX) this.#ownRevs.delete(this.#ownRevs.values().next().value!);
    if (this.#options.mode !== 'remote') {
      // What waitForPush() waits for (push-tracker.ts `written`); the push sends it by itself if its feed lags.
      this.#localFirst?.tracker?.written(id, rev);
      this.#localFirst?.replicator?.written(id, rev);
      return;
    }
    // A removal is generation 0: it supersedes nothing, and StoreContext.removedHere knows it.
    const gen = deleted ? 0 : generation(rev);
    if (deleted || gen > (this.#ownGeneration.get(id) ?? 0)) {
      this.#ownGeneration.delete(id); // newest last, so the oldest go first
      this.#ownGeneration.set(id, gen);
      if (this.#ownGeneration.size > OWN_REVS_MAX) this.#ownGeneration.delete(this.#ownGeneration.keys().next().value!);
    }
  }

  #reportError(error: FeatErrorType): void {
    // A background step that meets the close() or logout() the app asked for is no failure to tell about.
    if (this.#closing && (error.code === 'closed' || (error.code === 'listener' && isFeatError(error.cause, 'closed')))) return;
    if (this.#emitter.listenerCount('error') > 0) this.#emitter.emit('error', error);
    else if (!(error instanceof FeatError && error.code === 'network')) {
      // Never swallowed: without an error listener, background failures are logged.
      console.warn(`[@feat/sdk] ${error.code}: ${error.message}`);
    }
  }

  /** The status while there is no replication: remote mode, or local-first before it connects. */
  #setStatus(status: SyncStatus): void {
    if (this.#localFirst?.replicator || this.#status === status) return;
    this.#status = status;
    this.#publish();
  }

  /**
   * The status the app sees: the browser saying it is offline (`navigator.onLine`, the `offline` event) wins over
   * whatever the connection was doing (except `paused`), until its `online` event.
   */
  #effectiveStatus(): SyncStatus {
    if (this.#shut) return 'paused';
    const status = this.#localFirst?.status ?? this.#status;
    return this.#browserOffline && status !== 'paused' ? 'offline' : status;
  }

  /** Emits the status when it changed. */
  #publish(): void {
    const status = this.#effectiveStatus();
    if (status === this.#published) return;
    this.#published = status;
    this.#emitter.emit('status', status);
  }

  #setPaused(paused: boolean): void {
    if (this.#closing) return;
    this.#paused = paused;
    this.#localFirst?.setPaused(paused);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Writes made before close() are stored first; a failure of theirs was already reported to their callers. A server
    // that does not answer makes them fail with `timeout`; close() waits that long at most (plus a margin) and says
    // which writes were not confirmed.
    clearTimeout(this.#timer);
    globalThis.removeEventListener?.('offline', this.#onOffline);
    globalThis.removeEventListener?.('online', this.#onOnline);
    const waiting = this.store.pendingKeys();
    // Writes made before close() and a start waiting for the network (a replica's first pull, its connection): the
    // start goes on with what is local at once, and the writes are stored in the replica. (Without writes, the start
    // ends with `closed` as every other wait does.)
    if (waiting.length) {
      this.#waitsEnded = true;
      this.#localFirst?.endWaits();
    }
    const stored = new Set<string>();
    // A write already stored whose batch still waits (for a resolver) is confirmed once that batch settles.
    for (const key of waiting) void this.store.writing(key)?.then(() => stored.add(key), () => undefined);
    this.#onStored = (id) => stored.add(id);
    const limit = this.#options.requestTimeout * 2 + 1_000;
    let failure: unknown;
    const flushing = this.store.flush().catch((error: unknown) => (failure = error));
    const flushed = (await within(flushing, limit - 1_000)) !== LATE;
    if (!flushed) {
      // Still unsettled: the waits close() ends (a resolver's: `closed`) end now, and the list below says what became
      // of their writes — a write batched with them that is then stored is not named as lost.
      this.#lifetime.abort(closedError());
      await within(flushing, 1_000);
    }
    this.#onStored = undefined;
    const unconfirmed = waiting.filter((key) => !stored.has(key));
    if (unconfirmed.length > 0) {
      const list = unconfirmed.slice(0, 20).map((k) => JSON.stringify(k)).join(', ') + (unconfirmed.length > 20 ? ', …' : '');
      const where = this.#options.mode === 'remote' ? 'the server' : 'the local replica';
      this.#reportError(
        new FeatError(
          flushed ? (failure instanceof FeatError && failure.code !== 'aborted' ? failure.code : 'network') : 'timeout',
          `close(): ${unconfirmed.length} write(s) made before close() were not confirmed by ${where}${flushed ? '' : ` within ${limit} ms`}: ${list}. Write them again after reconnecting`,
          { key: unconfirmed[0]! },
        ),
      );
    }
    this.#closed = true;
    // A memory replica's last push runs before the lifetime ends, so that it can still refresh a token that just expired.
    await this.#localFirst?.drain();
    await within(this.sync.closing(), 1_000);
    const closed = closedError();
    this.#lifetime.abort(closed);
    this.#sending.abort(closed);
    await this.#loaded?.then((x) => x.close()).catch(() => undefined);
    await this.#watcher.close();
    await this.#localFirst?.close();
    await this.#remote?.close().catch(() => undefined);
    this.#setStatus('paused');
    this.#shut = true;
    this.#publish();
    this.#emitter.clear();
  }

  /**
   * Who these credentials are on the server, for logout's wipe of a replica the app named that holds some account's data
   * (sync/local-first.ts): one token request of its own, after close() ended the client's (ended by `signal`).
   */
  async #account(signal: AbortSignal): Promise<Session> {
    const o = this.#options;
    const source = new SessionSource({ accountsUrl: o.accountsUrl, auth: this.#auth, session: o.session, fetch: o.fetch, requestTimeout: o.requestTimeout, signal });
    const { userName, dbName } = await source.get(true);
    return { userName, dbName };
  }

  /** close() came with writes queued: a start's waits for the network end (LocalFirst.endWaits). */
  #waitsEnded = false;

  /** The replica's state when it was first opened (local-first; sync/watch.ts `opened`). */
  #opened = settleOnce<{ update_seq?: unknown }>();

  /** The logouts of other clients under way when this one was created: its start waits for them (sync/logouts.ts). */
  #logoutsBefore: Promise<unknown>[] = [];

  /** Logouts one after another: two at once (a double click) would open or delete the same replica together. */
  #logouts: Promise<unknown> = Promise.resolve();

  logout(options?: LogoutOptions): Promise<void> {
    const run = this.#logouts.then(() => this.#logout(options));
    this.#logouts = run.catch(() => undefined);
    // A local-first client started meanwhile (this account again, say) opens its replica once this is done.
    if (this.#options.mode === 'local-first') logoutStarted(run);
    return run;
  }

  async #logout(given: LogoutOptions | undefined): Promise<void> {
    // Read once, before anything is closed: options that throw are refused with the client left open.
    const options: LogoutOptions = checkOptions(given, 'logout');
    await this.close();
    try {
      if (options.destroyLocal && this.#localFirst?.localName === undefined && this.#options.mode === 'local-first') {
        // Never opened here (or its start was still waiting: sync/logouts.ts): still wipe what this device holds for
        // these credentials.
        const { LocalFirst } = await import('./sync/local-first.js');
        await this.#newLocalFirst(LocalFirst).wipe((signal) => this.#account(signal));
      } else if (options.destroyLocal) await this.#localFirst?.destroy();
      else await this.#localFirst?.forget();
    } catch (error) {
      throw toFeatError(error);
    } finally {
      this.session = undefined;
    }
  }
}

/** A promise settled by the first `resolve` (later ones are ignored); a rejection nobody awaits is not unhandled. */
function settleOnce<T>(): { promise: Promise<T>; resolve(value: T | Promise<T>): void } {
  let resolve!: (value: T | Promise<T>) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  promise.catch(() => undefined);
  return { promise, resolve };
}

/**
 * Creates a client for one user. Nothing happens on the network until `ready()` or the first store call.
 * `createFeatClient<{ draft: Draft }>(…)` types `store.get('draft')` and `store.set('draft', …)` by key.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- {}: no schema
export function createFeatClient<S extends {} = {}>(options: FeatClientOptions): FeatClient<S> {
  return new Client(options) as unknown as FeatClient<S>;
}
