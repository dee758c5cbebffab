import { abortError, closedError, FeatValidationError, toFeatError } from '../errors.js';
import { checkSignal } from '../util/abort.js';
import type { AcceptedWrite } from '../transport/couch-fetch.js';
import type { Emitter } from '../util/emitter.js';
import type { LocalFirst } from './local-first.js';
import type { SyncEventName, SyncEvents, SyncStatus } from './status.js';
import { lazy } from '../util/lazy.js';
import { checkOptions } from '../store/store.js';

const loadPendingCount = lazy(() => import('./pending-count.js'));
const loadWaitForPush = lazy(() => import('./wait-for-push.js'));

export interface WaitForPushOptions {
  signal?: AbortSignal | undefined;
  /** Give up after this many ms with a `timeout` error. @default no limit */
  timeout?: number | undefined;
}

export type { AcceptedWrite };

/** The events of `client.sync.on()`. */
export interface FeatSyncEvents {
  status: SyncStatus;
  conflict: SyncEvents['conflict'];
  error: SyncEvents['error'];
  /**
   * A write the server answered with `202 Accepted`: a CouchDB cluster stored it on fewer copies than its write quorum
   * (a node is down). It is stored and will reach the other copies when the node is back; nothing to redo.
   */
  accepted: AcceptedWrite;
  /** The new `pending()` count, whenever it changes. */
  pending: SyncEvents['pending'];
  /** The progress of a new device's first pull (the wait in its first `ready()`). */
  initialSync: SyncEvents['initialSync'];
}

/** `client.sync`: replication status, pending writes and events. */
export interface FeatSync {
  readonly status: SyncStatus;
  /** How many writes (requests) the server answered with `202 Accepted` so far (see the `accepted` event). */
  readonly accepted: number;
  /**
   * True when this client runs replication and maintenance. False in a browser tab while another tab of the same app
   * and user leads (README "Several tabs"): this one reads and writes the shared replica, and its `status` and
   * `pending()` follow the leader's sync.
   */
  readonly leader: boolean;
  /**
   * `status`, `conflict`, `error`; `pending`: the new `pending()` count, whenever it changes; `initialSync`: the
   * progress of a new device's first pull; `accepted`: a write stored on fewer copies than the cluster's quorum.
   */
  on<K extends SyncEventName>(event: K, listener: (event: FeatSyncEvents[K]) => void): () => void;
  /** Local changes not yet on the server (including writes still being stored). */
  pending(): Promise<number>;
  /** Resolves when every write made before the call is on the server. */
  waitForPush(options?: WaitForPushOptions): Promise<void>;
  pause(): void;
  resume(): void;
}

export interface SyncControllerDeps {
  emitter: Emitter<SyncEvents>;
  /** Writes still in the store's queue. */
  queued(): number;
  flush(): Promise<void>;
  ready(): Promise<unknown>;
  /** close() was called. */
  closed(): boolean;
  /** Aborted (with the `closed` error) once close() has stored what it could: waits end there. */
  lifetime: AbortSignal;
  /** Local-first mode: the replica and its replication (undefined in remote mode). */
  localFirst(): LocalFirst | undefined;
  /** The status the app sees (the replication's, or the connection's before it / in remote mode). */
  status(): SyncStatus;
  /** This client runs replication and maintenance (no other tab of its replica leads). */
  leader(): boolean;
  setPaused(paused: boolean): void;
}

/** The longest timer JavaScript engines keep (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

const EVENTS: string[] = ['status', 'conflict', 'error', 'pending', 'initialSync', 'accepted'] satisfies SyncEventName[];

export class SyncController implements FeatSync {
  #deps: SyncControllerDeps;
  accepted = 0;
  /** Recounts for the `pending` event (loaded with its first listener). */
  #recount: ((() => void) & { last(n: number): void; stop(): void; told(): boolean }) | undefined;

  constructor(deps: SyncControllerDeps) {
    this.#deps = deps;
  }

  get status(): SyncStatus {
    return this.#deps.status();
  }

  get leader(): boolean {
    return this.#deps.leader();
  }

  on<K extends SyncEventName>(event: K, listener: (event: FeatSyncEvents[K]) => void): () => void {
    if (!EVENTS.includes(event)) {
      const name = typeof event === 'string' ? `"${event}"` : `of type ${typeof event}`;
      throw new FeatValidationError('invalid_argument', `Unknown sync event ${name}; use ${EVENTS.join(', ')}`);
    }
    if (event !== 'pending') return this.#deps.emitter.on(event, listener as (event: unknown) => void);
    // Every `pending` listener hears the current count first (a later one too, not only the first: the counter tells
    // changes only), unless a change reached it before.
    let heard = false;
    const entry = (n: number) => {
      heard = true;
      return (listener as (n: number) => unknown)(n);
    };
    const off = this.#deps.emitter.on('pending', entry);
    void loadPendingCount().then((m) => {
      this.#recount ??= m.pendingCounter(this, this.#deps);
      // (Before a count was told, the counter's first one reaches every listener.)
      const late = this.#recount.told();
      this.#recount();
      if (!late || this.#deps.closed()) return;
      this.pending().then(
        (n) => !heard && !this.#deps.closed() && this.#deps.emitter.emitTo('pending', entry, n),
        () => undefined,
      );
    });
    return off;
  }

  /** The pending count may have changed: emit `pending` if it did. */
  recount(): void {
    this.#recount?.();
  }

  /**
   * close(), once its last push is done (a memory replica's drain): the count it leaves, told to `pending` listeners
   * (counting stops when close() begins, and that push may have sent what an "unsaved" badge still shows).
   */
  async closing(): Promise<void> {
    if (!this.#recount) return;
    this.#recount.stop();
    const left = await this.#count().catch(() => undefined);
    if (left !== undefined) this.#recount.last(left);
  }

  async pending(): Promise<number> {
    if (this.#deps.closed()) throw closedError();
    return this.#count();
  }

  /** Writes queued, plus the replica's changes not confirmed on the server (asking it at once when there are some). */
  async #count(): Promise<number> {
    const localFirst = this.#deps.localFirst();
    const tracker = localFirst?.tracker;
    const queued = this.#deps.queued();
    if (!tracker) return queued;
    // A failure of the replica (deleted under the client, say) reaches the app as a FeatError.
    const unconfirmed = await tracker.count().catch((error: unknown) => Promise.reject(toFeatError(error)));
    if (unconfirmed > 0) localFirst.pendingAsked();
    return queued + unconfirmed;
  }

  async waitForPush(given?: WaitForPushOptions): Promise<void> {
    const options: WaitForPushOptions = checkOptions(given, 'waitForPush');
    const { timeout } = options;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || timeout > MAX_TIMEOUT_MS)) {
      throw new FeatValidationError('invalid_argument', `"timeout" must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}`);
    }
    checkSignal(options.signal);
    // An already aborted signal starts nothing (the client's start included).
    if (options.signal?.aborted) throw abortError(options.signal);
    // The waiting itself loads on first use.
    const { waitForPush } = await loadWaitForPush();
    return waitForPush(this.#deps, options, () => this.status).catch((error: unknown) => Promise.reject(toFeatError(error)));
  }

  pause(): void {
    this.#deps.setPaused(true);
  }

  resume(): void {
    this.#deps.setPaused(false);
  }
}
