import { closedError, FeatValidationError } from '../errors.js';
import { checkSignal } from '../util/abort.js';
import type { Emitter } from '../util/emitter.js';
import type { LocalFirst } from './local-first.js';
import type { SyncEvents, SyncStatus } from './status.js';

export interface WaitForPushOptions {
  signal?: AbortSignal;
  /** Give up after this many ms with a `timeout` error. @default no limit */
  timeout?: number;
}

/** `client.sync`: replication status, pending writes and events. */
export interface FeatSync {
  readonly status: SyncStatus;
  on<K extends 'status' | 'conflict' | 'error'>(event: K, listener: (event: SyncEvents[K]) => void): () => void;
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
  /** Local-first mode: the replica and its replication (undefined in remote mode). */
  localFirst(): LocalFirst | undefined;
  /** The status while there is no replication (remote mode, or before local-first connects). */
  status(): SyncStatus;
  setPaused(paused: boolean): void;
}

/** The longest timer JavaScript engines keep (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

export class SyncController implements FeatSync {
  #deps: SyncControllerDeps;

  constructor(deps: SyncControllerDeps) {
    this.#deps = deps;
  }

  get status(): SyncStatus {
    return this.#deps.localFirst()?.status ?? this.#deps.status();
  }

  on<K extends 'status' | 'conflict' | 'error'>(event: K, listener: (event: SyncEvents[K]) => void): () => void {
    if (event !== 'status' && event !== 'conflict' && event !== 'error') {
      const name = typeof event === 'string' ? `"${event}"` : `of type ${typeof event}`;
      throw new FeatValidationError('invalid_argument', `Unknown sync event ${name}; use status, conflict or error`);
    }
    return this.#deps.emitter.on(event, listener);
  }

  async pending(): Promise<number> {
    if (this.#deps.closed()) throw closedError();
    const tracker = this.#deps.localFirst()?.tracker;
    const queued = this.#deps.queued();
    if (!tracker) return queued;
    return queued + (await tracker.count());
  }

  async waitForPush(options: WaitForPushOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new FeatValidationError('invalid_argument', 'waitForPush() takes an options object');
    const { timeout } = options;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || timeout > MAX_TIMEOUT_MS)) {
      throw new FeatValidationError('invalid_argument', `"timeout" must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}`);
    }
    checkSignal(options.signal);
    // The waiting itself loads on first use.
    const { waitForPush } = await import('./wait-for-push.js');
    return waitForPush(this.#deps, options, () => this.status);
  }

  pause(): void {
    this.#deps.setPaused(true);
  }

  resume(): void {
    this.#deps.setPaused(false);
  }
}
