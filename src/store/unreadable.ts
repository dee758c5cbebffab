import { FeatError } from '../errors.js';

/**
 * True when `error` is the failure of reading the value of the stored document `id` itself: a manifest whose chunks
 * are missing, changed, or do not form a JSON value (another app's document, a damaged one; store.ts `valueOf`,
 * chunks.ts `readChunks`) — a fault of that one document, not of the connection or the database. Readers of many
 * keys (find, export, a watch's current values) leave such a key out and say so, rather than fail every other key.
 */
export const unreadableValue = (error: unknown, id: string): error is FeatError =>
  error instanceof FeatError && (error.code === 'bad_response' || error.code === 'not_found') && error.key === id;
