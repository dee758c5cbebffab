import { closedError, FeatError, toFeatError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { openRemote } from '../pouch.js';
import { defaultAdapter, openLocal } from '../pouch-local.js';
import type { Session } from '../session/session.js';
import type { Db } from '../store/db.js';
import type { ConflictEvent, DocumentStore } from '../store/store.js';
import { sleep } from '../util/abort.js';
import { PushTracker } from './push-tracker.js';
import { backOff, Replicator } from './replicator.js';
import { statusForError, type SyncStatus } from './status.js';

const SYNCED_MARKER = '_local/feat-synced';
const SESSION_MARKER = '_local/feat-session';
/** How long close() lets an ephemeral (memory) replica push before it is freed. */
const DISCARD_WAIT_MS = 5_000;

// The store's local write path loads these on demand; re-exported here so that they arrive with local-first mode (one
// chunk, there before the first write — offline too) rather than as chunks of their own on the first write.
export { lookUp } from '../store/look-up.js';
export { resolveWrite } from '../store/resolve-write.js';

export interface LocalFirstDeps {
  options: ResolvedOptions;
  store: DocumentStore;
  /** Session + bootstrap; rejects with `network` when the server cannot be reached. */
  connect(): Promise<Session>;
  /** A short hash of the current credentials (no network), or undefined when there are none to ask. */
  fingerprint(): Promise<string | undefined>;
  couchFetch: typeof fetch;
  status(status: SyncStatus): void;
  error(error: FeatError): void;
  conflict(event: ConflictEvent): void;
  signal: AbortSignal;
}

/**
 * Where the last session is remembered, so an app started offline reopens its replica: per server and per credential
 * (a fingerprint of the Authorization value or of the fixed session headers), so another account never gets it.
 */
function lastSessionKey(options: ResolvedOptions, fingerprint: string): string {
  return `feat:last-session:${options.couchUrl}:${fingerprint}`;
}

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Local-first mode: the local replica (opened first, usable offline), live replication once the server is
 * reachable (reconnecting with backoff), the first pull of a new device, and replication conflicts.
 */
export class LocalFirst {
  local: Db | undefined;
  localName: string | undefined;
  tracker: PushTracker | undefined;
  replicator: Replicator | undefined;
  #deps: LocalFirstDeps;
  #remote: Db | undefined;
  #status: SyncStatus = 'connecting';
  #paused = false;
  #conflictChain: Promise<void> = Promise.resolve();
  #reconnecting = false;
  #fingerprint: string | undefined;
  #confirming: ReturnType<typeof setTimeout> | undefined;
  #confirmAgain = false;
  /** The replica, when finding the last session already opened it. */
  #opened: Db | undefined;
  #wake: (() => void) | undefined;
  #onOnline = () => {
    this.#wake?.();
    this.replicator?.kick();
  };

  constructor(deps: LocalFirstDeps) {
    this.#deps = deps;
  }

  get status(): SyncStatus {
    return this.replicator?.status ?? this.#status;
  }

  /**
   * Connects and opens the replica. Offline, a device that has used a replica before opens it from what it
   * remembers and connects in the background; a device with nothing local fails with `network`.
   */
  async open(): Promise<Session> {
    globalThis.addEventListener?.('online', this.#onOnline);
    // A replica that has synced before opens at once and catches up live; the connection is made in the background.
    const last = await this.#lastSession();
    if (last) {
      await this.#openReplica(last);
      if (await this.local!.get(SYNCED_MARKER).catch(() => undefined)) {
        void this.#reconnect(last, true);
        return last;
      }
    }
    let session: Session;
    try {
      session = await this.#deps.connect();
    } catch (error) {
      const failure = toFeatError(error);
      if (failure.code !== 'network' || !last) {
        this.#setStatus(statusForError(failure));
        throw failure;
      }
      // Offline with a replica that never finished its first pull: use what it has.
      this.#setStatus('offline');
      void this.#reconnect(last, false);
      return last;
    }
    if (last && last.dbName !== session.dbName) {
      await this.local?.close();
      this.local = undefined;
    }
    if (!this.local) await this.#openReplica(session);
    await this.#attach(session);
    return session;
  }

  async #lastSession(): Promise<Session | undefined> {
    const o = this.#deps.options;
    // A fixed `session` names its database: nothing to remember.
    if (o.session) {
      const userName = o.session.userName ?? o.session.headers['X-Auth-CouchDB-UserName'] ?? '';
      return { userName, dbName: o.session.dbName };
    }
    const fingerprint = (this.#fingerprint = await this.#deps.fingerprint().catch(() => undefined));
    if (!fingerprint) return undefined;
    const remembered = storage()?.getItem(lastSessionKey(o, fingerprint));
    if (remembered) {
      try {
        const s = JSON.parse(remembered) as Session;
        if (typeof s.dbName === 'string' && typeof s.userName === 'string') return s;
      } catch {
        // ignore a damaged entry
      }
    }
    // Without localStorage (Node), a replica named explicitly remembers its own session (for the same credentials).
    if (o.local?.name && (o.local.adapter ?? defaultAdapter()) !== 'memory') {
      const db = await openLocal(o.local.name, o.local.adapter ?? defaultAdapter());
      const doc = (await db.get(SESSION_MARKER).catch(() => undefined)) as unknown as (Session & { fingerprint?: string }) | undefined;
      if (doc && typeof doc.dbName === 'string' && doc.fingerprint === fingerprint) {
        // Keep it open: it is the replica to use.
        this.#opened = db;
        return { userName: doc.userName, dbName: doc.dbName };
      }
      await db.close();
    }
    return undefined;
  }

  async #openReplica(session: Session): Promise<void> {
    const o = this.#deps.options;
    const adapter = o.local?.adapter ?? defaultAdapter();
    const name =
      o.local?.name ??
      (adapter === 'memory' ? `feat-${session.dbName}-${Math.random().toString(36).slice(2, 10)}` : `feat-${session.dbName}`);
    const opened = this.#opened;
    this.#opened = undefined;
    const local = opened ?? (await openLocal(name, adapter));
    if (this.#deps.signal.aborted) {
      await local.close();
      throw closedError();
    }
    this.local = local;
    this.localName = name;
    this.tracker = new PushTracker(local);
  }

  /** Starts replication with the server (the session is known to work). */
  async #attach(session: Session): Promise<void> {
    const local = this.local!;
    const tracker = this.tracker!;
    const o = this.#deps.options;
    const remote = openRemote(`${o.couchUrl}/${encodeURIComponent(session.dbName)}`, this.#deps.couchFetch);
    this.#remote = remote;
    tracker.remote = remote;
    const fingerprint = (this.#fingerprint ??= await this.#deps.fingerprint().catch(() => undefined));
    if (fingerprint && !o.session) {
      storage()?.setItem(lastSessionKey(o, fingerprint), JSON.stringify(session));
      const marker = (await local.get(SESSION_MARKER).catch(() => undefined)) as { _rev?: string } | undefined;
      await local
        .put({ _id: SESSION_MARKER, ...(marker?._rev ? { _rev: marker._rev } : {}), ...session, fingerprint } as never)
        .catch(() => undefined);
    }
    // A device that has never synced waits for its first pull, so that first reads see the user's data.
    const synced = await local.get(SYNCED_MARKER).catch(() => undefined);
    if (!synced) await this.#initialPull(local, remote, tracker);
    if (this.#deps.signal.aborted) throw closedError();
    const replicator = new Replicator(local, remote, {
      status: (status) => this.#deps.status(status),
      error: (error) => this.#deps.error(error),
      pulled: (docs) => {
        for (const doc of docs) {
          tracker.pulled(doc._id, doc._rev);
          this.#deps.store.forget(doc._id);
        }
        this.#resolveConflicts(local, docs.map((d) => d._id));
      },
      pushed: () => this.#confirmPushed(),
    });
    this.replicator = replicator;
    if (!this.#paused) replicator.start();
  }

  /**
   * After the push side wrote or went idle, confirm with the server (`_revs_diff`) what is there, so `pending()`
   * drops to 0 by itself. Debounced and single-flight.
   */
  #confirmPushed(): void {
    if (this.#confirming) {
      this.#confirmAgain = true;
      return;
    }
    this.#confirming = setTimeout(() => {
      void this.tracker
        ?.verify()
        .catch(() => undefined)
        .finally(() => {
          this.#confirming = undefined;
          if (this.#confirmAgain && !this.#deps.signal.aborted) {
            this.#confirmAgain = false;
            this.#confirmPushed();
          }
        });
    }, 100);
  }

  /** Offline start: keep trying to connect, with backoff (and at once when the browser comes back online). */
  async #reconnect(expected: Session, now: boolean): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    for (let delay = 0, first = true; !this.#deps.signal.aborted; first = false) {
      if (!(first && now)) {
        delay = backOff(delay);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          sleep(delay, this.#deps.signal).then(resolve, resolve);
        });
      }
      if (this.#deps.signal.aborted) break;
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
        break;
      } catch (error) {
        if (this.#deps.signal.aborted) break;
        const failure = toFeatError(error);
        if (failure.code !== 'network') this.#deps.error(failure);
        this.#setStatus(statusForError(failure));
      }
    }
    this.#reconnecting = false;
  }

  async #initialPull(local: Db, remote: Db, tracker: PushTracker): Promise<void> {
    const rep = (local as unknown as { replicate: { from(db: Db, o: object): PromiseLike<unknown> & { cancel(): void; on(e: string, l: (i: never) => void): void } } })
      .replicate.from(remote, { batch_size: 100 });
    rep.on('change', (info: { docs?: { _id: string; _rev: string }[] }) => {
      for (const doc of info.docs ?? []) tracker.pulled(doc._id, doc._rev);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      rep.cancel();
    }, this.#deps.options.initialSyncTimeout);
    try {
      await rep;
      // Only a complete first pull counts: a cut-short one is resumed by live sync, and the next start waits again.
      if (!timedOut) await local.put({ _id: SYNCED_MARKER, at: Date.now() } as never).catch(() => undefined);
    } catch (error) {
      // Offline or failing: start with what is local; live sync catches up.
      const failure = toFeatError(error);
      if (failure.code !== 'network') this.#deps.error(failure);
    } finally {
      clearTimeout(timer);
    }
  }

  #resolveConflicts(local: Db, ids: string[]): void {
    this.#conflictChain = this.#conflictChain.then(async () => {
      // Loaded on first use: only replicated documents with conflicts need it.
      const { resolveLeaves } = await import('./resolve-leaves.js');
      for (const id of ids) {
        if (this.#deps.signal.aborted) return;
        try {
          await resolveLeaves(local, id, this.#deps.options.onConflict, this.#deps.conflict, (doc) => this.#deps.store.valueOf(local, doc));
        } catch (error) {
          this.#deps.error(toFeatError(error, { key: id }));
        }
      }
    });
  }

  #setStatus(status: SyncStatus): void {
    if (this.replicator || this.#status === status) return;
    this.#status = status;
    this.#deps.status(status);
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (!this.replicator) return;
    if (paused) void this.replicator.stop();
    else this.replicator.start();
  }

  /** Stops replication and closes the databases (pending writes were flushed by the caller). */
  async close(): Promise<void> {
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#wake?.();
    if (this.#confirming) clearTimeout(this.#confirming);
    await this.#conflictChain;
    // A memory replica under a generated name can never be opened again: it is freed rather than kept for the
    // process — after giving its unpushed writes a bounded chance to reach the server, and saying so if they did not.
    const ephemeral = !this.#deps.options.local?.name && (this.#deps.options.local?.adapter ?? defaultAdapter()) === 'memory';
    if (ephemeral) await this.#pushBeforeDiscard();
    await this.replicator?.stop();
    await Promise.allSettled([ephemeral ? this.local?.destroy() : this.local?.close(), this.#remote?.close()]);
  }

  async #pushBeforeDiscard(): Promise<void> {
    const tracker = this.tracker;
    if (!tracker) return;
    const target = await tracker.localSeq().catch(() => 0);
    const deadline = Date.now() + DISCARD_WAIT_MS;
    while (tracker.verifiedSeq < target && this.replicator && !this.#paused && Date.now() < deadline) {
      await tracker.verify().catch(() => undefined);
      if (tracker.verifiedSeq >= target) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const left = await tracker.count().catch(() => 0);
    if (left > 0) {
      this.#deps.error(
        new FeatError(
          'network',
          `close() discarded ${left} local change(s) not yet on the server: the memory replica cannot be reopened. Call waitForPush() before close(), or use a persistent adapter`,
        ),
      );
    }
  }

  /** Forgets the session this device remembered for these credentials (logout), so no offline start reopens it. */
  async forget(): Promise<void> {
    if (this.#fingerprint) storage()?.removeItem(lastSessionKey(this.#deps.options, this.#fingerprint));
    const adapter = this.#deps.options.local?.adapter ?? defaultAdapter();
    if (this.localName && adapter !== 'memory') {
      const db = await openLocal(this.localName, adapter);
      const marker = await db.get(SESSION_MARKER).catch(() => undefined);
      if (marker?._rev) await db.put({ _id: SESSION_MARKER, _rev: marker._rev, _deleted: true } as never).catch(() => undefined);
      await db.close();
    }
  }

  /**
   * logout({ destroyLocal }) of a client that never opened its replica: find the replica this device would open for
   * these credentials (its name, or the remembered session) and delete it.
   */
  async wipe(): Promise<void> {
    const o = this.#deps.options;
    const adapter = o.local?.adapter ?? defaultAdapter();
    const last = await this.#lastSession().catch(() => undefined);
    const opened = this.#opened;
    this.#opened = undefined;
    const name = o.local?.name ?? (last ? `feat-${last.dbName}` : undefined);
    if (this.#fingerprint) storage()?.removeItem(lastSessionKey(o, this.#fingerprint));
    if (opened) await opened.destroy();
    else if (name && adapter !== 'memory') await (await openLocal(name, adapter)).destroy();
  }

  /** Deletes the local replica and forgets the session this device remembered. */
  async destroy(): Promise<void> {
    if (this.#fingerprint) storage()?.removeItem(lastSessionKey(this.#deps.options, this.#fingerprint));
    if (!this.localName) return;
    const db = await openLocal(this.localName, this.#deps.options.local?.adapter ?? defaultAdapter());
    await db.destroy();
    this.localName = undefined;
  }
}
