import { abortError, closedError, FeatError, FeatValidationError, toFeatError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { remoteDb, type RemoteDb } from '../transport/remote-db.js';
import { defaultAdapter, dropChangeSignals, openLocal } from '../pouch-local.js';
import type { Session } from '../session/session.js';
import type { Change, Db, ReplicaDb } from '../store/db.js';
import { isChunkId, type StoredDoc } from '../store/codec.js';
import { adapterFor, askPersist, GuardedDb, OPEN_WAIT_MS, storageInfo, type GuardEvents, type StorageInfo } from './device-storage.js';
import {
  DIRECTORY_NAME,
  dropDeletion,
  dropLegacyEntries,
  forgetInDirectory,
  identityOf,
  legacyFingerprint,
  recallFromDirectory,
  pendingDeletions,
  readDeletions,
  recallFromReplica,
  recallLegacyEntry,
  rememberInDirectory,
  rememberInReplica,
  replicaTag,
  SESSION_MARKER,
  type DirectoryAccess,
  type Doomed,
  type Remembered,
} from './last-session.js';
import type { ConflictEvent, DocumentStore } from '../store/store.js';
import { RESOLVER_TIMEOUT_MS } from '../store/conflicts.js';
import { LATE, sleep, within, withSignal } from '../util/abort.js';
import { monotonicNow } from '../util/clock.js';
import { idbDatabases } from '../util/idb-list.js';
import { closeOtherTabs, tabLock, Tabs, webLocks } from './leader.js';
import { PushTracker } from './push-tracker.js';
import { LivePull, MAX_PULLED_DEPTH } from './live-pull.js';
import type { Seq } from './live-loop.js';
import { backOff, Replicator } from './replicator.js';
import { LeaderWatch } from './leader-watch.js';
import { statusForError, type InitialSyncEvent, type SyncStatus } from './status.js';
import { lazy } from '../util/lazy.js';
import { oneAtATime } from '../store/resolving.js';

/** How long `logout({ destroyLocal: true })` waits for the replica's deletion (see `LocalFirst.destroy`). */
export const DESTROY_WAIT_MS = 10_000;
/** How long `client.storage()` waits for the answer of `navigator.storage.persist()` (`local.persist`). */
const PERSIST_WAIT_MS = 1_000;

/** The server is asked what it has of the pushed changes (for `pending()`) once the push side was quiet this long (ms)… */
const CONFIRM_QUIET_MS = 100;
/** …or this long after the first push event not confirmed, while it keeps writing (ms). */
const CONFIRM_MAX_WAIT_MS = 1_000;
/** Confirmations retried after a failure (with backoff from ~1 s) before waiting for the next push event. */
const CONFIRM_RETRIES = 5;
/** Confirmation failures not reported: the network's and the server's (tried again), and those reported elsewhere. */
const QUIET_CONFIRM: string[] = ['network', 'timeout', 'server', 'aborted', 'closed', 'unauthorized', 'storage_lost'];
/** Then the confirmation is asked this often (ms, ±20 %) until the server answers. */
const CONFIRM_SLOW_MS = 30_000;

const loadResolveLeaves = lazy(() => import('./resolve-leaves.js'));
/** How long documents a pull is writing count as arriving at most (a batch that failed is never `pulled`). */
const ARRIVAL_MS = 10_000;

const SYNCED_MARKER = '_local/feat-synced';
/** The account a replica holds the data of (its database name), written when it is first opened; kept until deleted. */
const OWNER_MARKER = '_local/feat-owner';

/**
 * Checks that `local` holds `session`'s data, or none yet (then it becomes that account's): a replica named by the app
 * (`local.name`) for one account and opened for another would show the first account's data to the second and push
 * its unsynced writes into the second's database. An older replica without the owner record is judged by its session
 * record, when it still has one. One with neither that the app named (`server`: this account's server database) and
 * that holds documents was left by v0.1.0 (35fe56d), whose logout() deleted its only record of the account: it is
 * this account's only if the server knows some of its revisions (offline, the request's failure is the answer).
 */
async function claimReplica(local: Db, session: Session, server?: () => Server): Promise<void> {
  const owner = (await local.get(OWNER_MARKER).catch(() => undefined)) as { dbName?: unknown } | undefined;
  const recorded = owner ?? ((await local.get(SESSION_MARKER).catch(() => undefined)) as { dbName?: unknown } | undefined);
  if (typeof recorded?.dbName === 'string' && recorded.dbName !== session.dbName) {
    throw new FeatError(
      'forbidden',
      `The local replica holds the data of another account (${recorded.dbName}), not of ${session.dbName}: give each account its own "local.name", or delete that replica with the other account's logout({ destroyLocal: true }) first`,
    );
  }
  if (typeof recorded?.dbName !== 'string' && server && !(await knownTo(local, server))) {
    throw new FeatError(
      'forbidden',
      `The local replica holds data an earlier version of the SDK wrote for an account it no longer names, and the server knows none of it for ${session.dbName}: sign in as the account that wrote it (its writes then reach its server), or discard it, with the writes it holds, by logout({ destroyLocal: true })`,
    );
  }
  // Best effort (another tab may write it at the same moment; a full device keeps its session record).
  if (!owner) await local.put({ _id: OWNER_MARKER, dbName: session.dbName } as never).catch(() => undefined);
}

/** What claimReplica asks of the server's database. */
type Server = Pick<RemoteDb, 'revsDiff' | 'bulkGet' | 'close'>;

/** Values of a replica that names no account whose revisions are asked of the server (see claimReplica)… */
const PROOF_SAMPLE = 10;
/** …looked for among its first changes (chunks come before their manifest: they are no proof). */
const PROOF_SCAN = 1_000;
/** The revisions of a value's history asked about (the server may keep fewer: `_revs_limit`). */
const PROOF_HISTORY = 200;

/**
 * A revision that only this account's history can have made. A revision's id digests its content and its parent's id
 * (PouchDB's and CouchDB's): a value the SDK stamped with a write time (`feat.updatedAt`) is the writer's own, and so
 * is every revision after it; a chunk (content-addressed), a default (time 0), an index definition or a removal may be
 * written identically by another account, revision ids included.
 */
function ownContent(doc: { _id?: string; _deleted?: boolean; feat?: { updatedAt?: unknown } } | undefined): boolean {
  const at = doc?.feat?.updatedAt;
  return !!doc?._id && !doc._deleted && !doc._id.startsWith('_') && !isChunkId(doc._id) && typeof at === 'number' && at > 0;
}

/**
 * Whether `local` holds no document (never written: nothing asked), or the server's database holds a revision of one
 * of its first values that only this account's history makes (ownContent): the value itself, or an earlier revision
 * of it whose content the server shows to be stamped (a device that edited offline past the server's kept history).
 */
async function knownTo(local: Db, server: () => Server): Promise<boolean> {
  const sample: { id: string; rev: string }[] = [];
  let since: Seq = 0;
  let seen = 0;
  while (sample.length < PROOF_SAMPLE && seen < PROOF_SCAN) {
    const page = (await local.changes({ since, limit: 100, include_docs: true })) as { results: (Change & { doc?: StoredDoc })[]; last_seq: Seq };
    if (!page.results.length) break;
    for (const c of page.results) if (ownContent(c.doc) && sample.length < PROOF_SAMPLE) sample.push({ id: c.id, rev: c.changes[0]!.rev });
    seen += page.results.length;
    since = page.last_seq;
  }
  if (seen === 0) return true;
  if (!sample.length) return false;
  const { results: found } = await (local as ReplicaDb).bulkGet({ docs: sample, revs: true });
  const diff: Record<string, string[]> = {};
  for (const [i, { id, rev }] of sample.entries()) {
    const history = (found[i]?.docs[0] as { ok?: { _revisions?: { start: number; ids: string[] } } } | undefined)?.ok?._revisions;
    const revs = history ? history.ids.slice(0, PROOF_HISTORY).map((hash, n) => `${history.start - n}-${hash}`) : [];
    diff[id] = revs.includes(rev) ? revs : [rev, ...revs];
  }
  const remote = server();
  try {
    const missing = await remote.revsDiff(diff);
    const known = Object.entries(diff).flatMap(([id, revs]) => revs.filter((rev) => !missing[id]?.missing?.includes(rev)).map((rev) => ({ id, rev })));
    // The value itself: its content is this account's own.
    if (known.some(({ id, rev }) => sample.some((s) => s.id === id && s.rev === rev))) return true;
    if (!known.length) return false;
    // An earlier revision: its content, as the server holds it, must be stamped too.
    const { results } = await remote.bulkGet({ docs: known.slice(0, 50) });
    return results.some((r) => r.docs.some((d) => 'ok' in d && ownContent(d.ok as StoredDoc)));
  } finally {
    await remote.close().catch(() => undefined);
  }
}
/**
 * The account whose data `local` holds, as claimReplica judges it (its owner record, else an older replica's session
 * record); undefined when it names none.
 */
async function ownerOf(local: Db): Promise<string | undefined> {
  const owner = (await local.get(OWNER_MARKER).catch(() => undefined)) as { dbName?: unknown } | undefined;
  const recorded = owner ?? ((await local.get(SESSION_MARKER).catch(() => undefined)) as { dbName?: unknown } | undefined);
  return typeof recorded?.dbName === 'string' ? recorded.dbName : undefined;
}

/** How long logout({ destroyLocal: true }) waits to read whose data a replica the app named holds (see LocalFirst.wipe). */
const OWNER_WAIT_MS = 5_000;

/** IndexedDB's name of a replica (PouchDB's `indexeddb` and `idb` adapters). */
const idbName = (name: string) => `_pouch_${name}`;

/** Deletes an IndexedDB database: true once it is gone (the browser keeps a deletion blocked by a connection waiting). */
function deleteDatabase(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const request = indexedDB.deleteDatabase(name);
      request.onsuccess = () => resolve(true);
      request.onerror = () => resolve(false);
    } catch {
      resolve(false);
    }
  });
}

/** The replicas IndexedDB lists (their PouchDB names), or undefined when it cannot say. */
async function replicasListed(): Promise<string[] | undefined> {
  const list = await idbDatabases();
  return list?.flatMap((d) => (d.name?.startsWith('_pouch_') ? [d.name.slice('_pouch_'.length)] : []));
}

/**
 * Finishes a deletion that a logout({ destroyLocal: true }) recorded (last-session.ts) and may not have seen through: the
 * page closed while IndexedDB held the deletion for another connection, and the browser dropped it. Under the
 * replica's tab lock (`feat-tab:<replica>`, leader.ts: every client holds it shared while its replica is open), so never
 * while a client has the replica open: `wait` (this client is about to open it: its account asked for the deletion)
 * waits up to OPEN_WAIT_MS for that lock or for the record to go (another tab of the account finished it and opened
 * the replica anew: it holds the lock for as long as it is open), any other start passes. The record is read again
 * under the lock (a start of the replica's account may have finished it meanwhile, and opened a new one). True once
 * the replica is gone and its record dropped.
 */
async function finishDeletion(access: DirectoryAccess, name: string, wait: boolean): Promise<boolean> {
  const tag = await replicaTag(name);
  const deadline = monotonicNow() + OPEN_WAIT_MS;
  /** Whether the record is still there (undefined: the directory could not say in time). */
  const recorded = async () => (await readDeletions(access))?.some((d) => d.tag === tag);
  const run = async () => {
    // Gone: finished by another start (which may have opened a new replica since). Unknown: nothing is deleted.
    const still = await recorded();
    if (still !== true) return still === false;
    const listed = await replicasListed();
    if (!listed || listed.includes(name)) {
      // A deletion blocked by a connection stays queued in IndexedDB (done once that closes). Waited for within the
      // start's bound; in the background only briefly — holding the tab lock, it would keep the account's own start
      // from going on for that long.
      const ms = wait ? Math.max(1_000, deadline - monotonicNow()) : BACKGROUND_DELETE_MS;
      if ((await within(deleteDatabase(idbName(name)), ms)) !== true) return false;
    }
    dropChangeSignals(name);
    return dropDeletion(access, tag);
  };
  const locks = webLocks();
  if (!locks) return run();
  const attempt = () => (locks.request(tabLock(name), { ifAvailable: true }, (lock) => (lock === null ? undefined : run())) as Promise<boolean | undefined>).catch(() => false);
  for (;;) {
    const done = await attempt();
    if (done !== undefined) return done;
    if (!wait || monotonicNow() > deadline) return false;
    if ((await recorded()) === false) return true;
    await sleep(500);
  }
}

/** How long a start's background finish of another replica's deletion waits for IndexedDB (ms; see finishDeletion). */
const BACKGROUND_DELETE_MS = 2_000;

/** How long a start waits for the logouts under way in its page or process (each is bounded by its own steps). */
const LOGOUT_WAIT_MS = 20_000;

/** A start's first connection cut short by close() (see endWaits). */
const ENDED = Symbol('ended');

/** How long close() lets a start's first connection go on before the writes go to the replica without it (ms). */
const FIRST_CONNECT_GRACE_MS = 2_000;

/** At most this many ids a replica holds are listed before its first pull (see #heldIds). */
const HELD_IDS_MAX = 5_000;

/**
 * How long close() lets an ephemeral (memory) replica push before it is freed — longer while the push is under way
 * (status `active`: a big value crossing a slow link), up to close()'s own bound, `2 × requestTimeout + 1 s`.
 */
const DISCARD_WAIT_MS = 5_000;

// The store's local write path loads these on demand; re-exported here so that they arrive with local-first mode (one
// chunk, there before the first write — offline too) rather than as chunks of their own on the first write.
export { lookUp } from '../store/look-up.js';
export { resolveWrite } from '../store/resolve-write.js';

export interface LocalFirstDeps {
  options: ResolvedOptions;
  store: DocumentStore;
  /**
   * Session + bootstrap; rejects with `network` when the server cannot be reached. `named` is told the session the
   * token names before the bootstrap's requests (a new device whose CouchDB cannot be reached opens its replica).
   */
  connect(named?: (session: Session) => void): Promise<Session>;
  /** The replica opened offline is this account's: a token of another is refused (session.ts). */
  expectAccount(session: Session): void;
  /** The current Authorization value (no network), or undefined when there is none to ask. */
  authorization(): Promise<string | undefined>;
  couchFetch: typeof fetch;
  status(status: SyncStatus): void;
  /** The pending count may have changed. */
  pendingChanged(): void;
  initialSync(event: InitialSyncEvent): void;
  error(error: FeatError): void;
  conflict(event: ConflictEvent): void;
  /** Another tab deletes the replica (`logout({ destroyLocal: true })`): close the client. */
  closeRequested(): void;
  signal: AbortSignal;
  /** The logouts under way in this page or process when the client was made (sync/logouts.ts). */
  logoutsBefore: readonly Promise<unknown>[];
  /** The replica is open, before any pull writes to it: its state then (ChangeWatcherOptions.opened). */
  opened?(info: Promise<{ update_seq?: unknown }>): void;
}

/** Adapters whose replica other tabs of the origin share (leader.ts). */
const SHARED_ADAPTERS = new Set(['indexeddb', 'idb']);

/** Browsers and Web Workers keep the directory of last sessions in IndexedDB (see last-session.ts). */
const hasIndexedDb = () => typeof indexedDB !== 'undefined';

/** How long a garbage collection waits for the pull to catch up before it deletes nothing (store.collectGarbage). */
const CAUGHT_UP_WAIT_MS = 5_000;

/**
 * Local-first mode: the local replica (opened first, usable offline), live replication once the server is
 * reachable (reconnecting with backoff), the first pull of a new device, and replication conflicts.
 */
export class LocalFirst {
  local: GuardedDb | undefined;
  localName: string | undefined;
  tracker: PushTracker | undefined;
  replicator: Replicator | undefined;
  #deps: LocalFirstDeps;
  /**
   * The refusals of the session (`denied`: a 401 a token refresh did not fix, a 403) reported, by code, until something
   * goes through: the start's pull, live sync and every `resume()` meeting the same refusal say it once (README: once
   * per episode); another code (`forbidden` after `unauthorized`) is said too. A document's refusal (it names its key)
   * is not one.
   */
  #refusals = new Set<string>();
  #remote: Db | undefined;
  #status: SyncStatus = 'connecting';
  #paused = false;
  /** The replica was deleted under the client (device-storage.ts): sync is not started again. */
  #lost: FeatError | undefined;
  /** Another tab's logout({ destroyLocal: true }) asked this client to close: the replica's failures from now are `closed`. */
  #closeAsked = false;
  #conflictChain: Promise<void> = Promise.resolve();
  /** Documents pulled with conflicting leaves, and the resolution under way that covers each (store.ts `get()`). */
  #resolving = new Map<string, Promise<void>>();
  /** Keys in conflict with a revision held without its value, resolved on the server (again after each push). */
  #onServer = new Set<string>();
  /** Pulled revisions written without their value (too deep for the replica) that were reported: each once. */
  #tooDeepSeen = new Set<string>();
  /** Documents whose resolution could not start (its code failed to load): resolved with the next conflict. */
  #unresolved: string[] = [];
  /** Documents the pull is writing, before `pulled` starts their resolution: each settled with it (see #arriving). */
  #arrivals = new Map<string, (resolution?: Promise<void>) => void>();
  #reconnecting = false;
  /** The deletions a logout recorded on this origin (browsers; read once per start: see finishDeletion). */
  #doomed: Promise<Doomed[]> | undefined;
  /** The replica was found gone: whether a logout recorded its deletion (one look at a time; see #deletionRecorded). */
  #deletionCheck: Promise<boolean> | undefined;
  /** The identity the last session is remembered under (last-session.ts); null: none. */
  #identity: string | null | undefined;
  /** What the directory remembered of the replica (its name and adapter). */
  #remembered: Remembered | undefined;
  /** The last session was found in a record v0.1.0 left (see #lastSession). */
  #legacy = false;
  /** The answer of `navigator.storage.persist()` (`local.persist`). */
  #persisted: Promise<boolean | undefined> | undefined;
  #confirming: ReturnType<typeof setTimeout> | undefined;
  /** When the first push event not confirmed yet came. */
  #confirmFirst: number | undefined;
  #confirmRunning = false;
  #confirmAgain = false;
  /** Failed confirmations in a row. */
  #confirmRetry = 0;
  /** The code of the confirmation failure last reported (reported once until a confirmation succeeds). */
  #confirmReported: string | undefined;
  /** The confirmation gave up retrying (the server could not answer): made when sync is `idle` again. */
  #confirmOwed = false;
  /** The replica has had a complete first pull (its `SYNCED_MARKER`): an absent value is absent on the server too. */
  #synced = false;
  /** The replica, when finding the last session already opened it. */
  #opened: GuardedDb | undefined;
  #wake: (() => void) | undefined;
  /** close() began: a start's waits for the network end (see endWaits). */
  #ending = false;
  #endWaits = new Set<() => void>();
  /** The session an offline start opened, while the connection is not made yet (for `online` to try again). */
  #expected: Session | undefined;
  /** The other tabs of this replica (leader.ts); undefined: this client syncs on its own. */
  #tabs: Tabs | undefined;
  /** Followers: the leader's status. */
  #leaderStatus: SyncStatus | undefined;
  /** Followers: whether the leader still answers while this tab's writes wait (leader-watch.ts). */
  #leaderWatch: LeaderWatch | undefined;
  /** Followers: the session to connect with once this tab leads. */
  #standby: Session | undefined;
  /** #follow waits for the first pull: a takeover meanwhile is its to attach (within the same deadline). */
  #following = false;
  #onOnline = () => {
    this.#wake?.();
    if (this.#expected && !this.replicator && !this.#reconnecting) void this.#reconnect(this.#expected, true);
    this.replicator?.kick();
  };

  constructor(deps: LocalFirstDeps) {
    this.#deps = deps;
  }

  /** The replica's loss (`storage_lost`: the site's data cleared under the client), once noticed. */
  get lost(): FeatError | undefined {
    return this.#lost;
  }

  get status(): SyncStatus {
    if (this.replicator) return this.replicator.status;
    if (this.#lost) return 'error';
    if (this.leading) return this.#status;
    const leader = this.#leaderStatus ?? this.#status;
    return this.#leaderWatch ? this.#leaderWatch.statusFor(leader) : leader;
  }

  /** The resolution under way of `id`'s conflicting leaves pulled into the replica, if any (settled either way). */
  resolution(id: string): Promise<void> | undefined {
    return this.#resolving.get(id)?.catch(() => undefined);
  }

  /**
   * The server's database and the sequence the replica holds every change up to, once this client's pull runs caught
   * up (waits up to CAUGHT_UP_WAIT_MS while it connects or catches up); `undefined` when offline, paused, failing,
   * still behind, or another tab leads.
   */
  async server(): Promise<{ db: Db; since: Seq } | undefined> {
    // A pull on its way (just woken, or catching up) is given a few seconds; one that cannot reach the server is not.
    for (const deadline = monotonicNow() + CAUGHT_UP_WAIT_MS; ; ) {
      const since = this.#paused ? undefined : this.replicator?.pulledTo();
      if (since !== undefined && this.#remote) return { db: this.#remote, since };
      const state = this.replicator?.pullState;
      if (this.#paused || !state || !['connecting', 'active'].includes(state) || monotonicNow() >= deadline || this.#deps.signal.aborted) return undefined;
      await sleep(100);
    }
  }

  /**
   * True when this client runs replication and maintenance: no other tab of the replica leads (leader.ts). Not before
   * its replica is open (a client refused it — another account's — never runs them).
   */
  get leading(): boolean {
    return this.#tabs?.leading ?? this.local !== undefined;
  }

  /** Joins the other tabs of a browser replica: elects the leader (leader.ts). */
  async #joinTabs(local: GuardedDb): Promise<void> {
    if (this.#tabs || !SHARED_ADAPTERS.has(local.adapter)) return;
    this.#tabs = await Tabs.join(local.name, {
      lead: () => {
        this.#leaderWatch?.close();
        this.#leaderWatch = undefined;
        this.#leaderStatus = undefined;
        // #follow, still waiting for the first pull, attaches itself (its ready() waits for that pull). A tab asked to
        // close (the leader left for its logout({ destroyLocal: true })) does not take over.
        const session = this.#following ? undefined : this.#standby;
        if (!session || this.#closeAsked) return;
        this.#standby = undefined;
        if (!this.#deps.signal.aborted) void this.#reconnect(session, true);
      },
      status: (status) => {
        this.#leaderStatus = status;
        this.#leaderWatch?.heard();
        this.#deps.status(status);
      },
      pushed: () => {
        this.#leaderWatch?.heard();
        void this.tracker?.refresh().then(() => {
          this.#deps.pendingChanged();
          this.#wakePushWaiters();
        }, () => undefined);
      },
      pulled: (docs) => {
        for (const [id, rev] of docs) this.tracker?.pulled(id, rev);
      },
      close: () => this.#doomedUnder(),
      current: () => this.status,
    });
    if (this.#deps.signal.aborted || this.#lost) this.#tabs?.close();
    else if (this.#tabs && !this.#tabs.leading) {
      const tabs = this.#tabs;
      this.#leaderWatch = new LeaderWatch(
        async () => (this.tracker ? this.tracker.count() : 0),
        () => tabs.ask(),
        () => this.#deps.status(this.status),
      );
    }
  }

  /** waitForPush()'s waits between its looks (see afterPush). */
  #pushWaiters = new Set<() => void>();

  /**
   * Waits `ms`, or less: until the push stores a batch or more writes are confirmed (here, or by the leader tab) —
   * waitForPush() looks again then, not after its backoff's pause. Rejects when `signal` aborts.
   */
  afterPush(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#pushWaiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(abortError(signal));
      };
      const timer = setTimeout(wake, ms);
      if (signal.aborted) return onAbort();
      this.#pushWaiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Revisions a pull is about to write: the follower tabs' pending counts leave them out (pulled, not written here). */
  #tellPulled(docs: { _id: string; _rev: string }[]): void {
    this.#tabs?.pulled(docs.map((d) => [d._id, d._rev]));
  }

  #wakePushWaiters(): void {
    for (const wake of [...this.#pushWaiters]) wake();
  }

  /** A status change: the app hears it, and so do the follower tabs. */
  #statusChanged(status: SyncStatus): void {
    this.#tabs?.status(status);
    this.#deps.status(status);
  }

  /**
   * Connects and opens the replica. Offline, a device that has used a replica before opens it from what it
   * remembers and connects in the background; so does a new device whose token named its account when CouchDB could
   * not be reached (an empty replica); a device with nothing local and no token fails with `network`.
   */
  async open(): Promise<Session> {
    // The logouts under way in this page or process when this client was made (not awaited) first: one may be
    // deleting or closing the replica this start would open. (A memory replica is this client's alone.)
    const logouts = this.#deps.logoutsBefore;
    if (logouts.length && this.#adapterAsked() !== 'memory') {
      await withSignal(within(Promise.all(logouts), LOGOUT_WAIT_MS), this.#deps.signal).catch(() => undefined);
      if (this.#deps.signal.aborted) throw closedError();
    }
    globalThis.addEventListener?.('online', this.#onOnline);
    if (this.#deps.options.local?.persist) this.#persisted ??= askPersist();
    // Read again by every start (a deletion recorded since the last one may be finished by now, or due).
    this.#doomed = undefined;
    void this.#finishDeletions().catch(() => undefined);
    // A replica that has synced before opens at once and catches up live; the connection is made in the background.
    let last: Session | undefined;
    try {
      last = await this.#lastSession();
      if (last) await this.#openReplica(last);
    } catch (error) {
      // A device too full to open the replica (`storage_full`): ready() says so; it can be called again.
      throw this.#failed(error);
    }
    // Found by a record v0.1.0 left (verified for these credentials): rewritten in the current form, offline too.
    if (last && this.#legacy) await this.#remember(this.local!, last).catch(() => undefined);
    if (last) {
      if (await this.local!.get(SYNCED_MARKER).catch(() => undefined)) {
        void this.#reconnect(last, true);
        return last;
      }
    }
    let session: Session | undefined;
    /** A replica that never completed its first pull, whose connection failed: one wait for both, until `deadline`. */
    let deadline: number | undefined;
    let events: InitialSyncEvents | undefined;
    /** The session the token named (before the bootstrap's requests). */
    let named: Session | undefined;
    /** The replica was opened for the account the token named, the server unreachable (nothing remembered it yet). */
    let fromToken = false;
    try {
      try {
        // (close() with writes queued ends this wait too, after FIRST_CONNECT_GRACE_MS: a server that answers gets the
        // writes — a memory replica's are pushed while close() drains it — and one that does not leaves them to the
        // replica: see endWaits.)
        const connected = await this.#unlessEnding(this.#deps.connect((s) => (named = s)), FIRST_CONNECT_GRACE_MS);
        if (connected === LATE) throw ENDED;
        session = connected;
      } catch (error) {
        const ended = error === ENDED;
        const failure = ended ? new FeatError('network', 'close() ended the wait for the server') : toFeatError(error);
        const unreachable = failure.code === 'network' || failure.code === 'timeout';
        // A new device (nothing remembered) whose token named its account, CouchDB out of reach: its replica opens
        // empty and ready() resolves as for a replica that never finished its first pull (API.md: offline → what is
        // local); the bootstrap is made when the server answers (#reconnect connects again).
        if (unreachable && !last && named && !this.#deps.signal.aborted) {
          await this.#openReplica(named).catch((e: unknown) => Promise.reject(this.#failed(e)));
          last = named;
          fromToken = true;
        }
        if (!unreachable || !last) throw this.#failed(ended ? closedError() : failure);
        // The connection is tried again as the first pull would be (a reset, a request timed out): given up at once,
        // ready() resolved with an empty replica, and the app's default for "absent" replaced the user's data.
        deadline = monotonicNow() + this.#deps.options.initialSyncTimeout;
        events = new InitialSyncEvents(this.#deps.initialSync, this.#deps.options.initialSyncTimeout);
        session = await this.#connectBy(deadline, failure);
        if (!session) {
          // Offline with a replica that never finished its first pull: use what it has. One opened from the token's
          // session is remembered, so that a start without the accounts service opens it too.
          if (fromToken && !this.#deps.options.session) await this.#remember(this.local!, last).catch(() => undefined);
          this.#setStatus('offline');
          void this.#reconnect(last, false);
          return last;
        }
        this.#setStatus('connecting');
      }
      if (last && last.dbName !== session.dbName) {
        await this.local?.close();
        this.local = undefined;
      }
      if (!this.local) await this.#openReplica(session).catch((error: unknown) => Promise.reject(this.#failed(error)));
      await this.#attach(session, deadline, events);
      return session;
    } finally {
      // Ended before the first pull said so (given up, refused, closed; or a replica synced already, or another tab's).
      if (events && !events.done) events.report({ phase: 'done', complete: session !== undefined && (await this.complete().catch(() => false)) });
    }
  }

  /**
   * Connects again after `failure` (the network, a timeout), with backoff until `deadline` (and at once when the browser
   * is back online); undefined once it passed. Any other failure, or close(), rejects.
   */
  async #connectBy(deadline: number, failure: FeatError): Promise<Session | undefined> {
    const signal = this.#deps.signal;
    for (let delay = 0; ; ) {
      if (failure.code !== 'network' && failure.code !== 'timeout') throw this.#failed(failure);
      this.#setStatus(statusForError(failure));
      delay = backOff(delay);
      // Waits until the deadline at most, as the first pull's own retries do.
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        sleep(Math.min(delay, deadline - monotonicNow()), signal).then(resolve, resolve);
      });
      this.#wake = undefined;
      if (signal.aborted) throw closedError();
      if (this.#ending || monotonicNow() >= deadline) return undefined;
      try {
        // An attempt still under way at the deadline (or at close()) is left to finish on its own (#reconnect asks again).
        const session = await this.#unlessEnding(within(this.#deps.connect(), deadline - monotonicNow()));
        return session === LATE ? undefined : session;
      } catch (error) {
        if (signal.aborted) throw closedError();
        failure = toFeatError(error);
      }
    }
  }

  /** The deletions a logout recorded on this origin and did not see through (browsers; read once, bounded). */
  #pendingDeletions(): Promise<Doomed[]> {
    const browser = hasIndexedDb() && this.#adapterAsked() !== 'memory' && this.#deps.options.session === undefined;
    return (this.#doomed ??= browser ? pendingDeletions(this.#directory()) : Promise.resolve([]));
  }

  /** Whether a logout asked for the deletion of replica `name` (see finishDeletion). */
  async #isDoomed(name: string): Promise<boolean> {
    const doomed = await this.#pendingDeletions();
    if (!doomed.length) return false;
    const tag = await replicaTag(name);
    return doomed.some((d) => d.tag === tag);
  }

  /**
   * Every start (of any account) finishes, in the background, the deletions a logout recorded and did not see through:
   * of the replicas IndexedDB still lists, those no client has open (finishDeletion); a record whose replica is gone
   * is dropped.
   */
  async #finishDeletions(): Promise<void> {
    const doomed = await this.#pendingDeletions();
    if (!doomed.length) return;
    const listed = (await replicasListed()) ?? [];
    const byTag = new Map(await Promise.all(listed.map(async (name) => [await replicaTag(name), name] as const)));
    for (const { tag } of doomed) {
      if (this.#deps.signal.aborted) return;
      const name = byTag.get(tag);
      if (name) await finishDeletion(this.#directory(), name, false);
      else await dropDeletion(this.#directory(), tag);
    }
  }

  /** A start that failed: the status says why. */
  #failed(error: unknown): FeatError {
    const failure = toFeatError(error);
    this.#setStatus(statusForError(failure));
    // The site's data cleared while the replica opened: told once as the guard tells it of an open one (README).
    if (failure.code === 'storage_lost' && !this.#lost && !this.#lostAtOpen && !this.#deps.signal.aborted) {
      this.#lostAtOpen = true;
      this.#deps.error(failure);
    }
    return failure;
  }
  #lostAtOpen = false;

  async #identityNow(): Promise<string | undefined> {
    if (this.#identity !== undefined) return this.#identity ?? undefined;
    let failed = false;
    const authorization = await this.#deps.authorization().catch(() => void (failed = true));
    const identity = await identityOf(authorization ?? undefined, this.#deps.options.local?.identity);
    // A provider that failed or did not answer leaves it unknown, asked again next time: not "none" for the client's life.
    if (identity || !failed) this.#identity = identity ?? null;
    return identity;
  }

  #directory(): DirectoryAccess {
    return { couchUrl: this.#deps.options.couchUrl, open: () => (hasIndexedDb() ? openLocal(DIRECTORY_NAME, defaultAdapter()) : undefined) };
  }

  #adapterAsked(): string {
    return this.#deps.options.local?.adapter ?? defaultAdapter();
  }

  async #lastSession(): Promise<Session | undefined> {
    const o = this.#deps.options;
    this.#legacy = false;
    // A fixed `session` names its database: nothing to remember.
    if (o.session) {
      const userName = o.session.userName ?? o.session.headers['X-Auth-CouchDB-UserName'] ?? '';
      return { userName, dbName: o.session.dbName };
    }
    const identity = await this.#identityNow();
    if (!identity || this.#adapterAsked() === 'memory') return undefined;
    // Browsers and workers: the directory in IndexedDB.
    const remembered = await recallFromDirectory(this.#directory(), identity);
    if (remembered) {
      this.#remembered = remembered;
      return { userName: remembered.userName, dbName: remembered.dbName };
    }
    // v0.1.0 remembered it under a fingerprint of the credentials (last-session.ts): in localStorage in browsers…
    const print = await legacyFingerprint(await this.#deps.authorization().catch(() => undefined));
    const legacy = recallLegacyEntry(o.couchUrl, print);
    if (legacy) {
      this.#legacy = true;
      return legacy;
    }
    // …and in the replica. A replica named explicitly remembers its own session (for the same identity, or v0.1.0's
    // fingerprint) — unless a logout is deleting it.
    if (o.local?.name && !(await this.#isDoomed(o.local.name))) {
      const adapter = await adapterFor(o.local.name, o.local.adapter, defaultAdapter());
      let db: GuardedDb;
      try {
        db = await GuardedDb.open(o.local.name, adapter, this.#guardEvents());
      } catch (error) {
        // A device too full to open the replica says so; any other failure is met again when it is opened for real.
        if (toFeatError(error).code === 'storage_full') throw error;
        return undefined;
      }
      const session = await recallFromReplica(db, identity, print);
      if (session) {
        // Keep it open: it is the replica to use.
        this.#opened = db;
        this.#legacy = session.legacy === true;
        return { userName: session.userName, dbName: session.dbName };
      }
      await db.close();
    }
    return undefined;
  }

  /** What a full device, and room again, mean for the client (device-storage.ts). */
  #guardEvents(): GuardEvents {
    return {
      full: (error) => {
        this.#deps.error(error);
        this.replicator?.setStorageFull(true);
      },
      room: () => this.replicator?.setStorageFull(false),
      reopening: async () => {
        await this.replicator?.stop();
      },
      reopened: () => {
        if (this.replicator && !this.#paused && !this.#lost && !this.#deps.signal.aborted) this.replicator.start();
      },
      closing: () => this.#closeAsked || this.#deps.signal.aborted,
      deleting: () => this.#doomedUnder(),
      closeAsked: () => this.#closeAsked,
      deletionRecorded: (name) => (this.#deletionCheck ??= this.#deletionRecorded(name).finally(() => (this.#deletionCheck = undefined))),
      // Nothing more can be exchanged: sync stops, with status `error`, and says why once.
      lost: (error) => {
        this.#lost = error;
        // Leaves the tabs' election at once (and never takes it again): the tab reloaded meanwhile syncs the new replica.
        this.#tabs?.close();
        this.#leaderWatch?.close();
        if (this.#deps.signal.aborted) return;
        this.#deps.error(error);
        if (this.replicator) void this.replicator.stop('error');
        else this.#setStatus('error');
      },
    };
  }

  async #openReplica(session: Session): Promise<void> {
    const o = this.#deps.options;
    const asked = this.#adapterAsked();
    const remembered = this.#remembered?.dbName === session.dbName ? this.#remembered : undefined;
    const name =
      o.local?.name ??
      remembered?.name ??
      (asked === 'memory' ? `feat-${session.dbName}-${Math.random().toString(36).slice(2, 10)}` : `feat-${session.dbName}`);
    const adapter = !o.local?.adapter && remembered?.adapter ? remembered.adapter : await adapterFor(name, o.local?.adapter, asked);
    const opened = this.#opened;
    this.#opened = undefined;
    // This account's logout asked for this replica's deletion and it did not happen (the page closed meanwhile): done
    // first, never reopened with what the user asked to delete.
    if (!opened && (await this.#isDoomed(name)) && !(await finishDeletion(this.#directory(), name, true))) {
      throw new FeatError('timeout', `The local replica "${name}", whose deletion a logout({ destroyLocal: true }) asked for, is still open elsewhere (another tab, or the app's own code); it is deleted, and opened anew, once that closes`);
    }
    const local = opened ?? (await GuardedDb.open(name, adapter, this.#guardEvents()));
    if (this.#deps.signal.aborted) {
      await local.close();
      throw closedError();
    }
    try {
      // Only a replica the app named is shared by accounts: one named after the account's database is its own.
      const server = () => remoteDb(`${o.couchUrl}/${encodeURIComponent(session.dbName)}`, this.#deps.couchFetch);
      await claimReplica(local, session, o.local?.name === undefined ? undefined : server);
    } catch (error) {
      await local.close();
      throw toFeatError(error);
    }
    this.local = local;
    this.localName = name;
    // (Asked before anything is pulled into it: the watches made before the start report what the pull brings.)
    if (this.#deps.opened) {
      const info = local.info();
      info.catch(() => undefined);
      this.#deps.opened(info);
    }
    this.tracker = new PushTracker(local, () => {
      this.#tabs?.pushed();
      this.#deps.pendingChanged();
      this.#wakePushWaiters();
    });
    await this.#joinTabs(local);
    // (A later clear while a replica opens is a new loss to tell.)
    this.#lostAtOpen = false;
  }

  /**
   * Remembers the session for an offline start: by identity, never by a credential or a digest of a short one. Not when
   * another tab's logout({ destroyLocal: true }) is deleting the replica (a tab that slept through it, then took the
   * lead): this client closes instead (`closed`).
   */
  async #remember(local: GuardedDb, session: Session): Promise<void> {
    if (local.adapter === 'memory') return;
    const identity = await this.#identityNow();
    this.#checkNotDoomed();
    if (identity && !(await rememberInDirectory(this.#directory(), identity, { ...session, name: local.name, adapter: local.adapter }))) this.#doomedUnder();
    else if (!identity) dropLegacyEntries();
    this.#checkNotDoomed();
    await rememberInReplica(local, identity, session);
  }

  /** Another tab deletes the replica under this client (its logout, seen now): it closes, and its calls fail `closed`. */
  #doomedUnder(): void {
    if (this.#closeAsked || this.#deps.signal.aborted) return;
    this.#closeAsked = true;
    this.#deps.closeRequested();
  }

  /**
   * Whether a logout recorded the deletion of replica `name` (read now, not the start's list: the logout came since).
   * It stays recorded while its deletion waits for a tab that holds the replica (one frozen), until a start finds the
   * replica gone. Clearing the site's data takes the directory with it: none is recorded then.
   */
  async #deletionRecorded(name: string): Promise<boolean> {
    if (!hasIndexedDb() || this.#deps.options.session !== undefined) return false;
    const [doomed, tag] = await Promise.all([readDeletions(this.#directory()), replicaTag(name)]);
    return doomed?.some((d) => d.tag === tag) ?? false;
  }

  /** After another tab's logout({ destroyLocal: true }) asked this client to close: nothing more is written or started. */
  #checkNotDoomed(): void {
    if (this.#closeAsked) throw closedError();
  }

  /** Starts replication with the server (the session is known to work). */
  /**
   * Whether the replica holds what the server held when it was first synced (a complete first pull, its own or another
   * tab's): until then a value absent from it may exist on the server (the redux engine never writes over it).
   */
  async complete(): Promise<boolean> {
    if (!this.#synced && this.local) this.#synced = !!(await this.local.get(SYNCED_MARKER).catch(() => undefined));
    return this.#synced;
  }

  async #attach(session: Session, deadline?: number, events?: InitialSyncEvents): Promise<void> {
    const local = this.local!;
    const tracker = this.tracker!;
    const o = this.#deps.options;
    const remote = remoteDb(`${o.couchUrl}/${encodeURIComponent(session.dbName)}`, this.#deps.couchFetch);
    this.#remote = remote;
    tracker.remote = remote;
    this.#checkNotDoomed();
    if (!o.session) await this.#remember(local, session);
    if (!this.leading) return this.#follow(local, session, deadline, events);
    // A device that has never synced waits for its first pull, so that first reads see the user's data.
    const synced = await local.get(SYNCED_MARKER).catch(() => undefined);
    let refused: FeatError | undefined;
    let tail: LivePull | undefined;
    if (!synced) ({ refused, tail } = await this.#initialPull(local, remote, tracker, deadline, events));
    else this.#synced = true;
    try {
      if (this.#deps.signal.aborted) throw closedError();
      this.#checkNotDoomed();
    } catch (error) {
      tail?.cancel();
      throw error;
    }
    const replicator = new Replicator(local, remote, {
      status: (status) => {
        // Something went through: a refusal met again is a new episode.
        if (status === 'idle' || status === 'active') this.#refusals.clear();
        // A first pull cut short (initialSyncTimeout) is complete once live sync has caught up.
        if (status === 'idle' && !this.#synced) {
          this.#synced = true;
          local.put({ _id: SYNCED_MARKER, at: Date.now() } as never).catch(() => (this.#synced = false));
        }
        if (status === 'idle' && this.#confirmOwed) {
          this.#confirmOwed = false;
          this.#confirmRetry = 0;
          this.#confirmPushed();
        }
        this.#statusChanged(status);
      },
      // The replica's guard said `storage_lost` once already.
      error: (error) => error.code === 'storage_lost' || this.#report(error),
      arriving: (docs) => {
        this.#tellPulled(docs);
        this.#arriving(docs.map((d) => d._id));
      },
      pulled: (docs) => {
        // What the store knew of each document (the revision the app read or wrote) is kept: a write based on it meets
        // the pulled revision as a conflict for the resolver, as a write in remote mode meets another client's (409).
        for (const doc of docs) tracker.pulled(doc._id, doc._rev);
        // Only values: a design document (a query index, made on two devices at once) is never the app's to resolve;
        // CouchDB's winner is the same on every replica, and each of its leaves is a valid index.
        this.#resolveConflicts(local, docs.flatMap((d) => (d._id.startsWith('_') ? [] : [d._id])));
      },
      pushed: () => {
        this.#confirmPushed();
        if (this.#onServer.size) this.#resolveConflicts(local, [...this.#onServer]);
        this.#wakePushWaiters();
      },
      rewound: () => {
        tracker.reset();
        this.#deps.pendingChanged();
      },
      givenUp: (id, rev) => {
        tracker.givenUp(id, rev);
        this.#deps.pendingChanged();
      },
      tooDeep: (id, rev) => this.#tooDeep(id, rev),
      crowded: (id) => this.#resolveOnServer(remote, id),
      tooLarge: (id) => this.#reshape(id),
    });
    this.replicator = replicator;
    if (refused) replicator.refused(refused);
    // Paused or closing meanwhile: the first pull stops (resume() starts the pull from its checkpoint), its write under
    // way given 2 s to end (a replica closed under it never answers: LevelDB).
    if (tail && (this.#paused || this.#ending)) {
      tail.cancel();
      await within(Promise.resolve(tail).catch(() => undefined), 2_000);
    } else if (tail) replicator.adoptFirstPull(tail);
    if (!this.#paused) replicator.start();
  }

  /**
   * A follower tab: the leader replicates. A device that has never synced waits (up to `initialSyncTimeout`, or `until`
   * when its wait began with the connection) for the leader's first pull to complete, as the leader's own `ready()` does.
   */
  async #follow(local: Db, session: Session, until?: number, events?: InitialSyncEvents): Promise<void> {
    this.#standby = session;
    this.#following = true;
    const deadline = until ?? monotonicNow() + this.#deps.options.initialSyncTimeout;
    // A replica that never synced: this tab's ready() waits for the leader's first pull, and says so as the leader's
    // does (one `start`, one `done`).
    let waiting = events;
    let synced = false;
    try {
      while (!this.leading && !this.#deps.signal.aborted && !this.#lost && !this.#ending && monotonicNow() < deadline) {
        if (await local.get(SYNCED_MARKER).catch(() => undefined)) {
          synced = true;
          break;
        }
        waiting ??= new InitialSyncEvents(this.#deps.initialSync, Math.max(0, deadline - monotonicNow()));
        await sleep(100, this.#deps.signal).catch(() => undefined);
      }
    } finally {
      this.#following = false;
    }
    // Took over meanwhile: replicate, and (never synced) wait for the first pull as the leader would have, within the
    // same deadline (the standby session was taken by the takeover when it came after the wait).
    if (this.leading && this.#standby && !this.#deps.signal.aborted && !this.#lost && !this.#closeAsked && !this.#ending) {
      this.#standby = undefined;
      await this.#attach(session, deadline, waiting);
      synced = this.#synced;
    }
    if (waiting && !waiting.done) waiting.report({ phase: 'done', complete: synced, ...(synced ? { pending: 0 } : {}) });
  }

  /** This tab queued or stored a write (a follower watches its leader while writes wait: leader-watch.ts). */
  wrote(): void {
    this.#leaderWatch?.poke();
  }

  /** `pending()` was asked while a confirmation is owed: the server is asked now (the app is showing the count). */
  pendingAsked(): void {
    if (!this.#confirmOwed || this.#confirmRunning) return;
    this.#confirmOwed = false;
    this.#confirmRetry = 0;
    this.#confirmPushed(0);
  }

  /** Reports a failure; a refusal of the session once per episode and code (see `#refusals`). */
  #report(failure: FeatError): void {
    if (failure.key === undefined && statusForError(failure) === 'denied') {
      if (this.#refusals.has(failure.code)) return;
      this.#refusals.add(failure.code);
    }
    this.#deps.error(failure);
  }

  /** Resends of changes the server lacks after the push side saw them stored, since the last time it had everything. */
  #resends = 0;
  #resendTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * The confirmation found changes the server lacks: if the push side is caught up (it sent them and saw them
   * answered as stored — a proxy or a server that answered 201 without storing), they are sent again, with backoff
   * (2 s doubling to 5 min, jittered), for as long as it lasts; the count starts over once the server has everything.
   */
  #resendMissing(missing: number): void {
    if (missing === 0) {
      this.#resends = 0;
      return;
    }
    if (this.#resendTimer || this.#deps.signal.aborted) return;
    const wait = backOff(Math.min(2_000 * 2 ** this.#resends, 300_000));
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = undefined;
      const tracker = this.tracker;
      if (!tracker || !this.replicator || this.#deps.signal.aborted) return;
      void this.replicator.resendFrom(tracker.verifiedSeq).then(
        (resent) => {
          if (resent) this.#resends++;
        },
        () => undefined,
      );
    }, wait);
    (this.#resendTimer as { unref?: () => void }).unref?.();
  }

  /**
   * After the push side wrote or went idle, confirm with the server (`_revs_diff`) what is there, so `pending()`
   * drops to 0 by itself: once the push side has been quiet for CONFIRM_QUIET_MS, or CONFIRM_MAX_WAIT_MS after the
   * first event not confirmed while writes keep coming (one request a second then, not one per batch). Single-flight.
   */
  #confirmPushed(retryIn?: number): void {
    if (this.#deps.signal.aborted) return;
    if (this.#confirmRunning) {
      this.#confirmAgain = true;
      return;
    }
    const now = monotonicNow();
    this.#confirmFirst ??= now;
    const due = retryIn !== undefined ? now + retryIn : Math.min(now + CONFIRM_QUIET_MS, this.#confirmFirst + CONFIRM_MAX_WAIT_MS);
    clearTimeout(this.#confirming);
    this.#confirming = setTimeout(() => {
      this.#confirming = undefined;
      this.#confirmFirst = undefined;
      const tracker = this.tracker;
      if (!tracker || this.#deps.signal.aborted) return;
      this.#confirmRunning = true;
      tracker.verify().then(
        (missing) => {
          this.#resendMissing(missing);
          this.#confirmRunning = false;
          this.#confirmRetry = 0;
          this.#confirmReported = undefined;
          // Answered (by the slow retry, say): nothing owed any more — no extra request at the next `idle`.
          this.#confirmOwed = false;
          if (this.#confirmAgain) {
            this.#confirmAgain = false;
            this.#confirmPushed();
          }
        },
        (error: unknown) => {
          // The server could not say (offline, 5xx, timeout): asked again with backoff, so pending() does not stay
          // above 0 until the next write; a few times, then every 30 s (with jitter) while the client is open — and at
          // once when sync is back to `idle`. A big value's failure (its chunks refused on the server or unreadable on
          // this device: push-tracker.ts; one with a key) that is not the network's is reported once, as it may not
          // pass by itself. (The server's refusals of the session or the requests are the push's and pull's to report.)
          const failure = toFeatError(error);
          if (failure.key !== undefined && !QUIET_CONFIRM.includes(failure.code) && failure.code !== this.#confirmReported && !this.#deps.signal.aborted) {
            this.#confirmReported = failure.code;
            this.#deps.error(failure);
          }
          this.#confirmRunning = false;
          this.#confirmAgain = false;
          if (this.#confirmRetry < CONFIRM_RETRIES) this.#confirmPushed(backOff(1_000 * 2 ** this.#confirmRetry++));
          else {
            this.#confirmOwed = true;
            this.#confirmPushed(CONFIRM_SLOW_MS * (0.8 + Math.random() * 0.4));
          }
        },
      );
    }, Math.max(0, due - now));
    (this.#confirming as { unref?(): void }).unref?.();
  }

  /**
   * A failure that asking again cannot fix: a fixed credential (a static `auth` string, or `session` headers) refused.
   * Reported once, and not asked again; the next `online` event (or a new client) tries again.
   */
  #permanent(failure: FeatError): boolean {
    const o = this.#deps.options;
    return failure.code === 'unauthorized' && (o.session !== undefined || typeof o.auth === 'string');
  }

  /**
   * Offline start: keep trying to connect, with backoff (and at once when the browser comes back online). A request
   * that hangs fails with `timeout` (requestTimeout) and is tried again like a network failure.
   */
  async #reconnect(expected: Session, now: boolean): Promise<void> {
    // A follower tab connects once it leads (leader.ts).
    if (!this.leading) {
      this.#standby = expected;
      // Its waitForPush() asks the server about writes another tab wrote on since the call (push-tracker.ts
      // `stillMissing`): without the server to ask, those counted as missing for as long as that tab kept writing.
      if (this.tracker && !this.tracker.remote) this.tracker.remote = remoteDb(`${this.#deps.options.couchUrl}/${encodeURIComponent(expected.dbName)}`, this.#deps.couchFetch);
      return;
    }
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    this.#expected = expected;
    this.#deps.expectAccount(expected);
    let reported: string | undefined;
    for (let delay = 0, first = true; !this.#deps.signal.aborted && !this.#lost && !this.#closeAsked; first = false) {
      if (!(first && now)) {
        delay = backOff(delay);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          sleep(delay, this.#deps.signal).then(resolve, resolve);
        });
      }
      if (this.#deps.signal.aborted || this.#lost || this.#closeAsked) break;
      try {
        const session = await this.#deps.connect();
        if (session.dbName !== expected.dbName) {
          this.#setStatus('denied');
          this.#deps.error(
            toFeatError({ status: 403, reason: `The account now signed in (${session.userName}) is not the one whose replica was opened offline; call logout() and create a new client` }),
          );
          break;
        }
        await this.#attach(session);
        this.#expected = undefined;
        break;
      } catch (error) {
        if (this.#deps.signal.aborted || this.#lost || this.#closeAsked) break;
        const failure = toFeatError(error);
        // The same failure round after round is reported once.
        if (failure.code !== 'network' && failure.code !== 'timeout' && failure.code !== reported) this.#report(failure);
        reported = failure.code;
        this.#setStatus(statusForError(failure));
        if (this.#permanent(failure)) break;
      }
    }
    this.#reconnecting = false;
  }

  /**
   * A new device's first pull. `events`: the wait began before (its connection was tried again): its `start` was
   * reported then. Resolves with the failure that ended it, when it did not complete (`refused`: live sync starts from
   * what it says), and the pull still under way that live sync takes over (`tail`).
   */
  async #initialPull(local: Db, remote: Db, tracker: PushTracker, deadline?: number, events?: InitialSyncEvents): Promise<{ refused: FeatError | undefined; tail: LivePull | undefined }> {
    const timeoutMs = deadline === undefined ? this.#deps.options.initialSyncTimeout : Math.max(0, deadline - monotonicNow());
    const reporter = events ?? new InitialSyncEvents(this.#deps.initialSync, timeoutMs);
    const progress = reporter.progress;
    const report = (changes: Partial<InitialSyncEvent>) => reporter.report(changes);
    // What the replica held before this pull: an earlier first pull's part, and what the app wrote meanwhile (offline
    // on a new device, a removal too) — a pulled document that meets one of them is resolved as live sync does.
    const held = await this.#heldIds(local);
    const onChange = (info: { docs?: { _id: string; _rev: string }[]; pending?: number }) => {
      const seen = new Set<string>();
      const conflicted = new Set<string>();
      for (const doc of info.docs ?? []) {
        tracker.pulled(doc._id, doc._rev);
        if ((seen.has(doc._id) || held === true || held.has(doc._id)) && !doc._id.startsWith('_')) conflicted.add(doc._id);
        seen.add(doc._id);
      }
      // A document the server holds in conflict comes with all its leaves at once: resolved as live sync does.
      if (conflicted.size) this.#resolveConflicts(local, [...conflicted]);
      report({ phase: 'progress', docs: progress.docs + (info.docs?.length ?? 0), pending: info.pending });
    };
    let rep: LivePull | undefined;
    /** `rep` has not ended. */
    let running = false;
    /** The pull that goes on past ready() (see `stop`). */
    let tail: LivePull | undefined;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    const signal = this.#deps.signal;
    let onClose = () => {};
    // Cut short by close() (or initialSyncTimeout between attempts): it is given 2 s more to save its checkpoint, no
    // more (a write to a replica closed under it never answers: LevelDB).
    const cut = new Promise<void>((resolve) => {
      const stop = (late = false) => {
        // Cut short: not a complete first pull, whichever comes first (the pull, cancelled, or this).
        if (timedOut) return;
        timedOut = true;
        wake();
        // initialSyncTimeout with a page under way (a big one over a slow link): ready() stops waiting, and the pull
        // goes on as live sync's pull side (#attach) — cancelled, that page was read again from its start by live sync.
        if (late && rep && running && !signal.aborted && !this.#ending) {
          tail = rep;
          return resolve();
        }
        rep?.cancel();
        setTimeout(resolve, 2_000);
      };
      timer = setTimeout(() => stop(true), timeoutMs);
      onClose = () => stop();
      signal.addEventListener('abort', onClose, { once: true });
      // close() ends the wait at once: the writes made before it go to the replica, which is open.
      this.#endWaits.add(onClose);
      if (signal.aborted || this.#ending) onClose();
    });
    let complete = false;
    let failure: FeatError | undefined;
    try {
      // A failure the next attempt may not meet (a reset connection, a 503 burst, a captive portal's page) is tried
      // again with backoff until the deadline: given up at once, ready() resolved with an empty replica, the app wrote
      // its default for "absent", and that newer default replaced the user's data. Each attempt resumes from the
      // checkpoint the last one saved.
      for (let delay = 0; !timedOut; ) {
        failure = undefined;
        const attempt = new LivePull(local, remote, backOff, {
          once: true,
          incoming: (docs) => this.#tellPulled(docs),
          tooDeep: (id, rev) => this.#tooDeep(id, rev),
          crowded: (id) => this.#resolveOnServer(remote, id),
        });
        rep = attempt;
        running = true;
        attempt.then(
          () => rep === attempt && (running = false),
          () => rep === attempt && (running = false),
        );
        rep.on('change', onChange);
        // Changes arriving (a page written, or one still arriving after its answer began): `active`, not `connecting`.
        rep.on('active', () => !timedOut && this.#setStatus('active'));
        try {
          // Its checkpoint is saved: live sync's pull continues from there.
          await Promise.race([Promise.resolve(rep), cut]);
          // Only a complete first pull counts: a cut-short one is resumed by live sync, and the next start waits again.
          complete = !timedOut;
          break;
        } catch (error) {
          failure = toFeatError(error);
          if (timedOut || !retryFirstPull(failure)) break;
        }
        // Meanwhile the status says why (`offline`, `error`), as the connection's retries do.
        this.#setStatus(statusForError(failure));
        delay = backOff(delay);
        await new Promise<void>((resolve) => {
          const pause = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(pause);
            resolve();
          };
          // The browser back online: the next attempt at once.
          this.#wake = wake;
        });
        wake = () => {};
        this.#wake = undefined;
      }
      if (complete) {
        this.#refusals.clear();
        await local.put({ _id: SYNCED_MARKER, at: Date.now() } as never).then(() => (this.#synced = true), () => undefined);
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onClose);
      this.#endWaits.delete(onClose);
      // (Not once close() or a logout ended the wait: nothing to tell then.)
      if (failure && !complete && !signal.aborted) {
        // Offline or failing: start with what is local; live sync catches up.
        // A full device is reported by the replica's guard, once per episode (device-storage.ts).
        const guardSaidSo = failure.code === 'storage_full' && (local as { full?: boolean }).full === true;
        if (!['network', 'timeout', 'aborted', 'storage_lost'].includes(failure.code) && !guardSaidSo) this.#report(failure);
      }
      report({ phase: 'done', complete, ...(complete ? { pending: 0 } : {}) });
    }
    return { refused: complete ? undefined : failure, tail };
  }

  /**
   * A pulled revision nested deeper than the replica can write (another app's document; live-pull.ts
   * `MAX_PULLED_DEPTH`): the replica holds it without its value, and says so once (an `invalid_value` naming the
   * key); the pull goes on. Remote mode reads it.
   */
  #tooDeep(id: string, rev: string): void {
    const seen = `${rev}\u0000${id}`;
    if (this.#tooDeepSeen.has(seen) || this.#deps.signal.aborted) return;
    if (this.#tooDeepSeen.size >= 1_000) this.#tooDeepSeen.clear();
    this.#tooDeepSeen.add(seen);
    this.#deps.error(
      new FeatValidationError(
        'invalid_value',
        `The value of "${id}" (another app's) is nested deeper than ${MAX_PULLED_DEPTH} levels, which this device's replica cannot hold: it reads as absent here (remote mode reads it)`,
        { key: id },
      ),
    );
  }

  /**
   * A value the push found too large for a request (stored here under larger limits: an app that lowered
   * `maxRequestBytes` to its proxy's): written again in the shape the current limits give (store.ts `reshape`), which
   * the push then sends. A failure is reported; the refusal itself was (once per revision).
   */
  #reshape(id: string): void {
    if (this.#deps.signal.aborted) return;
    this.#deps.store.reshape(id).catch((error: unknown) => {
      if (!this.#deps.signal.aborted) this.#deps.error(toFeatError(error, { key: id }));
    });
  }

  /**
   * A pulled document with hundreds of leaves (another writer's branches, live-pull.ts `MAX_LEAVES`): resolved on the
   * server, as remote mode resolves, so that only its result comes to the replica. A failure other than the
   * connection's is reported (the pull goes on with the highest leaves, resolved here).
   */
  async #resolveOnServer(remote: Db, id: string): Promise<void> {
    try {
      const { resolveLeaves } = await loadResolveLeaves();
      const store = this.#deps.store;
      await resolveLeaves(remote, id, this.#deps.options.onConflict, this.#deps.conflict, (doc) => store.valueOf(remote, doc), (key, op) => store.chunkIfLarge(remote, key, op), this.#deps.signal);
    } catch (error) {
      const failure = toFeatError(error, { key: id });
      if (!['network', 'timeout', 'aborted', 'closed'].includes(failure.code) && !this.#deps.signal.aborted) {
        // A resolution that cannot be written (the resolver's answer) is reported once, not again after every push:
        // tried again with the key's next pulled change. A server's failure (5xx, 429, a session) is tried again.
        if (failure.code === 'conflict') this.#onServer.delete(id);
        this.#deps.error(failure);
      }
    }
  }

  /**
   * The pull is about to write these documents: a read of one meanwhile waits as for its resolution (store.ts), which
   * `pulled` then starts — the revision written is not read before the resolution that may drop it. A batch that
   * fails to be written is never `pulled`: its documents are let go after ARRIVAL_MS.
   */
  #arriving(ids: string[]): void {
    for (const id of ids) {
      if (id.startsWith('_') || this.#arrivals.has(id)) continue;
      let settle!: (resolution?: Promise<void>) => void;
      const arrival = new Promise<void>((resolve) => (settle = resolve as typeof settle));
      const timer = setTimeout(() => release(), ARRIVAL_MS);
      (timer as { unref?: () => void }).unref?.();
      const release = (resolution?: Promise<void>) => {
        clearTimeout(timer);
        if (this.#arrivals.get(id) === release) this.#arrivals.delete(id);
        settle(resolution);
      };
      this.#arrivals.set(id, release);
      this.#resolving.set(id, arrival);
      void arrival.then(() => this.#resolving.get(id) === arrival && this.#resolving.delete(id));
    }
  }

  #resolveConflicts(local: Db, ids: string[]): void {
    const chain = this.#conflictChain.then(async () => {
      // Loaded on first use: only replicated documents with conflicts need it. A chunk that cannot load (offline) is
      // reported, and its documents are resolved with the next conflict's (the chain never stays rejected).
      const batch = [...new Set([...this.#unresolved.splice(0), ...ids])];
      let resolveLeaves: Awaited<ReturnType<typeof loadResolveLeaves>>['resolveLeaves'];
      try {
        ({ resolveLeaves } = await loadResolveLeaves());
      } catch (error) {
        this.#unresolved.push(...batch.slice(0, 1_000));
        throw error;
      }
      for (const id of batch) {
        if (this.#deps.signal.aborted) return;
        try {
          const store = this.#deps.store;
          this.#onServer.delete(id);
          // A leaf held without its value (too deep for the replica) is resolved where its value is, on the server (the
          // result comes back with the pull) — again once a push landed: this device's own leaf may not be there yet.
          const remote = this.#remote;
          const onServer = remote && (() => (this.#onServer.add(id), this.#resolveOnServer(remote, id)));
          // (After a resolution of the key a read started meanwhile: see store/resolving.ts.)
          await oneAtATime(this.#deps.signal, id, () =>
            resolveLeaves(local, id, this.#deps.options.onConflict, this.#deps.conflict, (doc) => store.valueOf(local, doc), (key, op) => store.chunkIfLarge(local, key, op), this.#deps.signal, onServer),
          );
        } catch (error) {
          // Ended by close(): nothing to report.
          if (!this.#deps.signal.aborted) this.#deps.error(toFeatError(error, { key: id }));
        }
      }
    });
    for (const id of ids) this.#resolving.set(id, chain);
    // (A read waiting since the documents arrived waits for this resolution.)
    for (const id of ids) this.#arrivals.get(id)?.(chain.catch(() => undefined));
    const done = () => {
      for (const id of ids) if (this.#resolving.get(id) === chain) this.#resolving.delete(id);
    };
    chain.then(done, done);
    this.#conflictChain = chain.catch((error: unknown) => {
      if (!this.#deps.signal.aborted) this.#deps.error(toFeatError(error));
    });
  }

  #setStatus(status: SyncStatus): void {
    if (this.replicator || this.#status === status) return;
    this.#status = status;
    this.#statusChanged(status);
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (!this.replicator) return;
    if (paused) void this.replicator.stop();
    else if (!this.#lost) this.replicator.start();
  }

  /** Stops replication and closes the databases (pending writes were flushed, and drain() run, by the caller). */
  async close(): Promise<void> {
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#wake?.();
    if (this.#confirming) clearTimeout(this.#confirming);
    clearTimeout(this.#resendTimer);
    // Each resolution ends with close() (its resolver wait is ended by the lifetime signal); bounded all the same.
    await within(this.#conflictChain, RESOLVER_TIMEOUT_MS);
    await this.replicator?.stop();
    await Promise.allSettled([this.#ephemeral() ? this.local?.destroy() : this.local?.close(), this.#remote?.close()]);
    this.#leaderWatch?.close();
    this.#tabs?.close();
  }

  /** A memory replica under a generated name: it can never be opened again, so close() frees it. */
  #ephemeral(): boolean {
    return !this.#deps.options.local?.name && (this.#deps.options.local?.adapter ?? defaultAdapter()) === 'memory';
  }

  /**
   * Before close() ends the client's lifetime (so that a push meeting a token that just expired can still refresh
   * it): an ephemeral replica's unpushed writes get a bounded chance to reach the server, and are reported if they
   * did not.
   */
  async drain(): Promise<void> {
    const tracker = this.tracker;
    if (!tracker || !this.#ephemeral()) return;
    const start = monotonicNow();
    const grace = start + DISCARD_WAIT_MS;
    const bound = start + Math.max(DISCARD_WAIT_MS, 2 * this.#deps.options.requestTimeout + 1_000);
    // (A push still sending goes on, within close()'s bound; one that stopped — offline, refused — gets the grace.)
    let deadline = grace;
    // (Once the push went idle after sending: the grace again for its confirmation, a look at the server over the
    // same slow link.)
    let sending = false;
    const extend = () => {
      const active = this.status === 'active';
      if (active || sending) deadline = Math.max(deadline, Math.min(bound, monotonicNow() + (active ? 2_000 : DISCARD_WAIT_MS)));
      sending = active;
    };
    // A conflict resolution under way (a pull just brought another device's revision) is a local change too: written
    // first, then pushed with the rest, so this device's last word is not left for another device to repeat. One queued
    // meanwhile is waited for too; the chain gets half the grace at most, the push the rest.
    const chainBy = monotonicNow() + DISCARD_WAIT_MS / 2;
    for (let chain: Promise<void> | undefined; chain !== this.#conflictChain && monotonicNow() < chainBy; ) {
      chain = this.#conflictChain;
      await within(chain, chainBy - monotonicNow());
    }
    const target = await tracker.localSeq().catch(() => 0);
    // (At least one look at the server, however long the chain took.)
    // Looks back off (0.1, 0.2, 0.4, 0.8, 1 s…): a push the server holds is not asked about ten times a second.
    for (let wait = 100; tracker.verifiedSeq < target && this.replicator && !this.#paused && (wait === 100 || monotonicNow() < deadline); wait = Math.min(wait * 2, 1_000)) {
      // The lifetime does not end this one (a refresh the accounts service holds): the grace period does.
      extend();
      await within(tracker.verify(), Math.max(deadline - monotonicNow(), 1_000)).catch(() => undefined);
      if (tracker.verifiedSeq >= target) return;
      extend();
      await sleep(Math.min(wait, Math.max(deadline - monotonicNow(), 0)));
      extend();
    }
    const left = await tracker.count().catch(() => 0);
    if (left > 0) {
      // Why they did not go: the last confirmation's failure (a refused session says `unauthorized`), else the network.
      const last = tracker.failure === undefined ? undefined : toFeatError(tracker.failure);
      const code = last && ['unauthorized', 'forbidden', 'server', 'timeout', 'storage_full'].includes(last.code) ? last.code : 'network';
      this.#deps.error(
        new FeatError(
          code,
          `close() discarded ${left} local change(s) not yet on the server: the memory replica cannot be reopened. Call waitForPush() before close(), or use a persistent adapter${last ? ` (the last attempt: ${last.message})` : ''}`,
          last ? { cause: last } : {},
        ),
      );
    }
  }

  /** Forgets the session this device remembered for these credentials (logout), so no offline start reopens it. */
  async forget(): Promise<void> {
    const forgetting = this.#forgetDirectory();
    const adapter = this.local?.adapter ?? this.#adapterAsked();
    // (Not once another tab's logout({ destroyLocal: true }) asked this client to close: opening would make the deleted
    // replica again, empty, under a name that holds the user's.)
    if (this.localName && adapter !== 'memory' && !this.#lost && !this.#closeAsked) {
      const db = await openLocal(this.localName, adapter);
      await rememberInReplica(db, undefined, undefined);
      await db.close();
    }
    await forgetting;
  }

  /**
   * Forgets the session in the directory (within DESTROY_WAIT_MS, else `timeout`: see forgetInDirectory), recording
   * first the deletion of `doomed` (browsers), which the next start on the origin finishes if this page does not.
   * Started before the deletion and awaited last by logout, which meanwhile does the rest; its failure is never left
   * unhandled.
   */
  #forgetDirectory(doomed?: { name: string; adapter: string }): Promise<void> {
    dropLegacyEntries();
    const identity = this.#identity ?? undefined;
    const record = doomed && hasIndexedDb() && doomed.adapter !== 'memory' ? doomed : undefined;
    const forgetting =
      (identity || record) && this.#deps.options.session === undefined ? forgetInDirectory(this.#directory(), identity, DESTROY_WAIT_MS, record) : Promise.resolve();
    forgetting.catch(() => undefined);
    return forgetting;
  }

  /**
   * logout({ destroyLocal }) of a client that never opened its replica: find the replica this device would open for
   * these credentials (its name, or the remembered session) and delete it — unless it is a replica the app named
   * (`local.name`, which every account may share) holding another account's data: that one is left alone, as this
   * client's refused ready() would leave it. `account` asks the server who these credentials are (with `signal`),
   * when the device cannot tell.
   */
  async wipe(account: (signal: AbortSignal) => Promise<Session>): Promise<void> {
    const o = this.#deps.options;
    const last = await this.#lastSession().catch(() => undefined);
    const opened = this.#opened;
    this.#opened = undefined;
    const name = o.local?.name ?? this.#remembered?.name ?? (last ? `feat-${last.dbName}` : undefined);
    let forgetting: Promise<void> | undefined;
    /** The replica being deleted (its change signals are dropped, whatever the deletion's outcome), and once it is. */
    let doomed: string | undefined;
    let deleted: string | undefined;
    try {
      if (opened) {
        // Found by its own session record, for these credentials: theirs.
        doomed = opened.name;
        forgetting = this.#forgetDirectory({ name: opened.name, adapter: opened.adapter });
        await this.#closeOtherTabs(opened.name, opened.adapter);
        await destroyBounded(opened);
        deleted = opened.name;
      } else if (name && this.#adapterAsked() !== 'memory') {
        const adapter = this.#remembered?.adapter ?? (await adapterFor(name, o.local?.adapter, this.#adapterAsked()));
        const shared = o.local?.name !== undefined;
        if (!shared) {
          // A name of the account's own (`feat-<dbName>`, or the one its remembered session gives): the other tabs close
          // before it is opened at all.
          forgetting = this.#forgetDirectory({ name, adapter });
          await this.#closeOtherTabs(name, adapter);
        }
        const db = await openLocal(name, adapter);
        const mine = !shared || (await this.#mayDelete(db, name, last, account).catch((error: unknown) => {
          void db.close().catch(() => undefined);
          throw error;
        }));
        if (!mine) {
          await within(db.close(), DESTROY_WAIT_MS);
        } else {
          doomed = name;
          forgetting ??= this.#forgetDirectory({ name, adapter });
          if (shared) await this.#closeOtherTabs(name, adapter);
          await destroyBounded(db);
          deleted = name;
        }
      }
    } finally {
      forgetting ??= this.#forgetDirectory();
      if (doomed) dropChangeSignals(doomed);
    }
    await forgetting;
    if (deleted) await this.#deletionDone(deleted);
  }

  /**
   * Whether logout({ destroyLocal: true }) of a client that never opened it may delete `db`, a replica the app named:
   * it holds no account's data, or this client's account's — known from the session the device
   * remembers for these credentials, else asked of the server (bounded: `timeout`; offline: `network`, the replica
   * left alone). Another account's data is never this client's to delete.
   */
  async #mayDelete(db: Db, name: string, last: Session | undefined, account: (signal: AbortSignal) => Promise<Session>): Promise<boolean> {
    const owner = await within(ownerOf(db), OWNER_WAIT_MS);
    if (owner === LATE) {
      throw new FeatError('timeout', `logout(): the local replica "${name}" is held open elsewhere and could not be read within ${OWNER_WAIT_MS} ms to tell whose data it holds; it was not deleted`);
    }
    // Another account's, even empty (it may be open and in use right now): only the server can say it is this one's.
    if (owner === undefined || owner === last?.dbName) return true;
    const asked = new AbortController();
    const timer = setTimeout(() => asked.abort(new FeatError('timeout', `logout(): the accounts service did not answer within ${DESTROY_WAIT_MS} ms`)), DESTROY_WAIT_MS);
    try {
      return (await account(asked.signal)).dbName === owner;
    } catch (error) {
      const failure = toFeatError(error);
      throw new FeatError(
        failure.code,
        `logout(): the local replica "${name}" holds an account's data, and the server could not say whether it is this one's: it was not deleted (call logout({ destroyLocal: true }) again once online)`,
        { cause: failure },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The ids of the documents a replica holds, deleted ones included (its changes feed), before a first pull; `true`
   * when there are too many to list (every pulled document is then looked at). None for an empty replica.
   */
  async #heldIds(local: Db): Promise<Set<string> | true> {
    try {
      if (!(await local.info()).update_seq) return new Set();
      const { results } = (await local.changes({ since: 0, limit: HELD_IDS_MAX })) as { results: { id: string }[] };
      return results.length >= HELD_IDS_MAX ? true : new Set(results.map((r) => r.id));
    } catch {
      return true;
    }
  }

  /**
   * close() began: a start waiting for the network (the connection of a replica that never finished its first pull, or
   * that pull) stops waiting and goes on with what is local, so that the writes made before close() reach the replica
   * at once (README: close() ends every wait) rather than after `initialSyncTimeout`.
   */
  endWaits(): void {
    this.#ending = true;
    this.#wake?.();
    for (const end of this.#endWaits) end();
  }

  /** `promise`, or LATE once close() began (see endWaits) and `graceMs` more passed. */
  #unlessEnding<T>(promise: Promise<T>, graceMs = 0): Promise<T | typeof LATE> {
    return new Promise<T | typeof LATE>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const end = () => {
        promise.catch(() => undefined);
        timer ??= setTimeout(() => resolve(LATE), graceMs);
      };
      this.#endWaits.add(end);
      if (this.#ending) end();
      promise.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        this.#endWaits.delete(end);
      });
    });
  }

  /** Deletes the local replica and forgets the session this device remembered. */
  async destroy(): Promise<void> {
    const name = this.localName;
    const adapter = this.local?.adapter ?? this.#adapterAsked();
    // (A replica deleted already — the site's data cleared — has nothing left to delete.)
    const forgetting = this.#forgetDirectory(name && !this.#lost ? { name, adapter } : undefined);
    let deleted = false;
    if (name) {
      try {
        // A replica deleted already (the site's data cleared): this page's adapter can no longer open it, not even to delete it.
        if (!this.#lost) {
          await this.#closeOtherTabs(name, adapter);
          await destroyBounded(await openLocal(name, adapter));
          deleted = true;
        }
      } finally {
        dropChangeSignals(name);
        this.localName = undefined;
      }
    }
    await forgetting;
    if (deleted && name) await this.#deletionDone(name);
  }

  /**
   * A deletion seen through: its record goes at once (best effort, bounded), so that it can never apply to a replica
   * of the same name made later — a start that cannot read the directory in time would not see it, and open one.
   */
  async #deletionDone(name: string): Promise<void> {
    if (!hasIndexedDb() || this.#deps.options.session !== undefined) return;
    await dropDeletion(this.#directory(), await replicaTag(name)).catch(() => undefined);
  }

  /**
   * Before the replica is deleted: the other tabs using it close their clients first (bounded; leader.ts). A tab that
   * does not answer in time is not reported here (logout() closed this client's listeners already): the deletion
   * waits for its connection, and logout() rejects with `timeout` if it still holds the replica after DESTROY_WAIT_MS.
   */
  async #closeOtherTabs(name: string, adapter: string): Promise<void> {
    if (SHARED_ADAPTERS.has(adapter)) await closeOtherTabs(name);
  }

  /** Estimates of the replica's storage (`client.storage()`). */
  async storage(): Promise<StorageInfo> {
    const info = await storageInfo({ name: this.localName, adapter: this.local?.adapter, full: this.local?.full });
    // persist() may wait for the user to answer a permission prompt (Firefox), for as long as they leave it open:
    // unanswered within PERSIST_WAIT_MS, it is not known yet.
    const persisted = this.#persisted && (await within(this.#persisted, PERSIST_WAIT_MS));
    if (info.persisted === undefined && typeof persisted === 'boolean') info.persisted = persisted;
    return info;
  }
}

/** The `initialSync` events of one wait for a first pull: `start` as it begins, then `done` once. */
class InitialSyncEvents {
  readonly progress: InitialSyncEvent;
  #emit: (event: InitialSyncEvent) => void;

  constructor(emit: (event: InitialSyncEvent) => void, timeoutMs: number) {
    this.#emit = emit;
    this.progress = { phase: 'start', docs: 0, pending: undefined, startedAt: Date.now(), timeoutMs, complete: false };
    emit({ ...this.progress });
  }

  get done(): boolean {
    return this.progress.phase === 'done';
  }

  report(changes: Partial<InitialSyncEvent>): void {
    if (this.done) return;
    Object.assign(this.progress, changes);
    this.#emit({ ...this.progress });
  }
}

/**
 * Whether a failed first pull is worth trying again before its deadline: the network, a request that timed out, the
 * server failing for now (5xx, 408, 429) or an answer that is not CouchDB's (a captive portal's page). Not a refusal
 * the session's own handling could not fix (unauthorized, forbidden), a database that is not there, a full or deleted
 * replica, nor close(): those would only make ready() wait the whole initialSyncTimeout.
 */
function retryFirstPull(failure: FeatError): boolean {
  return ['network', 'timeout', 'server', 'bad_response'].includes(failure.code);
}

/**
 * Deletes a replica, waiting at most DESTROY_WAIT_MS. IndexedDB deletes a database only once every connection to it is
 * closed: one that never closes (a tab that did not answer, the app's own PouchDB on it) would hold logout() forever.
 * The deletion stays asked for and happens when they close.
 */
async function destroyBounded(db: { destroy(): Promise<unknown> }): Promise<void> {
  if ((await within(db.destroy(), DESTROY_WAIT_MS)) === LATE) {
    throw new FeatError('timeout', `logout(): the local replica is still open elsewhere (another tab, or the app's own PouchDB on it) after ${DESTROY_WAIT_MS} ms; it is deleted as soon as that closes`);
  }
}
