import { FeatError } from '../errors.js';
import { limiter } from './limit.js';

/**
 * One lock per local replica between a big write (its chunks looked up and written, then its manifest) and the pull's
 * batches that delete chunks (the chunks a manifest here still refers to are written again first: gc.ts
 * `keepReferenced`). Without it, a write could find a chunk present, the pull's batch delete it, and the manifest land
 * pointing at a deleted chunk. The tabs of a browser share the replica (and the leader tab alone pulls), so there it is
 * the Web Lock `feat-chunks:<replica>`; elsewhere (Node, no Web Locks) one in memory per database object.
 */
const locks = new WeakMap<object, ReturnType<typeof limiter>>();

/** How long a big write or a pull batch waits for the lock before it fails with `timeout` (as a tabs' write does). */
export const CHUNK_LOCK_WAIT_MS = 30_000;

interface WebLocks {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/**
 * Waits (at most `waitMs`) for the lock of `db`; resolves with its release, rejects with `timeout`. Where Web Locks
 * refuse (an opaque origin's `SecurityError`), the lock in memory is taken instead.
 */
export function lockChunks(db: object, waitMs = CHUNK_LOCK_WAIT_MS): Promise<() => void> {
  const web = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  const name = (db as { name?: unknown }).name;
  const signal = AbortSignal.timeout(waitMs);
  return new Promise((acquired, failed) => {
    const late = () =>
      failed(new FeatError('timeout', `Waited ${waitMs} ms for the local replica's chunk lock ("feat-chunks:${String(name)}": a large write or sync batch in a tab that does not answer). Nothing was written; try again, or reload the other tabs.`));
    // Given up on by the time it is this one's turn: the lock passes straight on.
    const held = () => (signal.aborted ? Promise.resolve(late()) : new Promise<void>((release) => acquired(release)));
    const inMemory = () => {
      if (signal.aborted) return late();
      signal.onabort = late;
      let lock = locks.get(db);
      if (!lock) locks.set(db, (lock = limiter(1)));
      void lock(held);
    };
    if (web && typeof name === 'string') void web.request(`feat-chunks:${name}`, { signal }, held).catch(() => (signal.aborted ? late() : inMemory()));
    else inMemory();
  });
}
