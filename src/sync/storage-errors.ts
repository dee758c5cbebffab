import { FeatError, toFeatError, type FeatErrorContext } from '../errors.js';

/**
 * How a full device shows through the storage layers: IndexedDB's `QuotaExceededError` (bare, inside PouchDB's
 * `indexed_db_went_bad` or `unknown_error`, or as the cause of an aborted transaction) and LevelDB's
 * `IO error: … No space left on device` (ENOSPC).
 */
const FULL = /QuotaExceeded|quota (?:has been |was )?exceeded|exceed\w* (?:the )?quota|No space left on device|\bENOSPC\b|disk is full|disk full/i;

/** True when `error`, or anything it wraps, says the device (or the origin's quota) has no room left. */
export function isStorageFull(error: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift();
    if (typeof current === 'string') {
      if (FULL.test(current)) return true;
      continue;
    }
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    if (current instanceof FeatError) {
      if (current.code === 'storage_full') return true;
    }
    const e = current as Record<string, unknown>;
    for (const field of ['name', 'code', 'message', 'reason', 'error', 'cause', 'target']) {
      let value: unknown;
      try {
        value = e[field];
      } catch {
        continue;
      }
      if (value !== undefined && value !== current) queue.push(value);
    }
  }
  return false;
}

/** The error a call receives when the device is out of space. */
export function storageFullError(cause: unknown, context: FeatErrorContext = {}): FeatError {
  if (cause instanceof FeatError && cause.code === 'storage_full') return cause;
  const what = context.key === undefined ? '' : ` writing "${context.key}"`;
  return new FeatError(
    'storage_full',
    `The device is out of storage space${what}: the local replica cannot store more. Reads still work and writes already acknowledged still reach the server; free space on the device (or ask the user to), then write again`,
    { ...context, cause },
  );
}

/** toFeatError, with a full device recognised in whatever wrapping it arrives. */
export function toStorageAwareError(error: unknown, context: FeatErrorContext = {}): FeatError {
  return isStorageFull(error) ? storageFullError(error, context) : toFeatError(error, context);
}
