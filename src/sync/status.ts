import type { FeatError } from '../errors.js';
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

export interface SyncEvents {
  [name: string]: unknown;
  status: SyncStatus;
  conflict: ConflictEvent;
  error: FeatError;
}

/** What a failure means for the status. */
export function statusForError(error: FeatError): SyncStatus {
  if (error.code === 'network' || error.code === 'timeout') return 'offline';
  if (error.code === 'unauthorized' || error.code === 'forbidden') return 'denied';
  return 'error';
}
