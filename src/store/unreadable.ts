import { FeatError } from '../errors.js';
import type { StoredDoc } from './codec.js';
import type { Db } from './db.js';
import type { StoreIO } from './io.js';

/**
 * True when `error` is the failure of reading the value of the stored document `id` itself: a manifest whose chunks
 * are missing, changed, or do not form a JSON value (another app's document, a damaged one; store.ts `valueOf`,
 * chunks.ts `readChunks`) — a fault of that one document, not of the connection or the database. Readers of many
 * keys (find, export, a watch's current values) leave such a key out and say so, rather than fail every other key.
 */
export const unreadableValue = (error: unknown, id: string): error is FeatError =>
  error instanceof FeatError && (error.code === 'bad_response' || error.code === 'not_found') && error.key === id;

/**
 * The value of `raw`; when it cannot be read, that of the document's current revision, read again once: another device
 * may have replaced the value and collected the chunks of the revision `raw` is — a race, not a broken document
 * (`undefined` when the key was removed meanwhile). Still unreadable at the same revision → its failure.
 */
export async function currentValueOf(io: Pick<StoreIO, 'read' | 'valueOf'>, db: Db, raw: StoredDoc): Promise<unknown> {
  try {
    return await io.valueOf(db, raw);
  } catch (error) {
    if (!unreadableValue(error, raw._id)) throw error;
    // (Infinity: a read the app is not shown as such — a later write of the key is no write on top of it.)
    const current = await io.read(db, raw._id, Infinity);
    if (current?._rev === raw._rev) throw error;
    return current && io.valueOf(db, current);
  }
}
