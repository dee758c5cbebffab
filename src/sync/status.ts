import { isLocalWait, type FeatError } from '../errors.js';
import type { ConflictEvent } from '../store/store.js';

/**
 * - `idle`: up to date, waiting for changes (remote mode: connected, nothing pending)
 * - `connecting`: starting or reconnecting
 * - `active`: transferring changes
 * - `paused`: stopped by `pause()`, not started yet (before `ready()`), or closed
 * - `offline`: the server cannot be reached; writes are kept and retried
 * - `error`: the server fails for another reason; retried with backoff (see the `error` event)
 * - `denied`: the server refused the credentials or a document
 */
export type SyncStatus = 'idle' | 'connecting' | 'active' | 'paused' | 'offline' | 'error' | 'denied';

/** The first pull of a device that has never synced, which `ready()` waits for (up to `initialSyncTimeout`). */
export interface InitialSyncEvent {
  /** `start`: the pull began; `progress`: a batch arrived; `done`: it ended and `ready()` goes on. */
  phase: 'start' | 'progress' | 'done';
  /** Documents pulled so far. */
  docs: number;
  /** Changes the server still has to send, when it says so (CouchDB 2+). */
  pending: number | undefined;
  /** When the pull began (ms since the epoch) and how long `ready()` waits for it at most: for a countdown. */
  startedAt: number;
  timeoutMs: number;
  /** `true` once the whole first pull is in; `false` on `done` when the timeout or a failure cut it short. */
  complete: boolean;
}

export interface SyncEvents {
  [name: string]: unknown;
  status: SyncStatus;
  conflict: ConflictEvent;
  error: FeatError;
  /** `pending()` changed (emitted while someone listens). */
  pending: number;
  initialSync: InitialSyncEvent;
}

/** The events of `client.sync.on()`. */
export type SyncEventName = 'status' | 'conflict' | 'error' | 'pending' | 'initialSync' | 'accepted';

/** What a failure means for the status. */
export function statusForError(error: FeatError): SyncStatus {
  // A wait on this device (a pull batch that timed out on the chunk lock another tab holds, or on a replica step under
  // it: util/chunk-lock.ts) says nothing about the server, which answered: `error`, as the device's other failures
  // (storage_full …), with the `timeout` event saying what to do; the next batch that goes through makes it `active`.
  if (error.code === 'timeout' && isLocalWait(error)) return 'error';
  if (error.code === 'network' || error.code === 'timeout') return 'offline';
  if (error.code === 'unauthorized' || error.code === 'forbidden') return 'denied';
  return 'error';
}
