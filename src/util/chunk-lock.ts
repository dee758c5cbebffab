import { limiter } from './limit.js';

/**
 * One lock per local replica between a big write (its chunks looked up and written, then its manifest) and the pull's
 * batches that delete chunks (the chunks a manifest here still refers to are written again first: gc.ts
 * `keepReferenced`). Without it, a write could find a chunk present, the pull's batch delete it, and the manifest land
 * pointing at a deleted chunk.
 */
const locks = new WeakMap<object, ReturnType<typeof limiter>>();

/** Waits for the lock of `db` (a {@link limiter} of one); resolves with its release. */
export function lockChunks(db: object): Promise<() => void> {
  let lock = locks.get(db);
  if (!lock) locks.set(db, (lock = limiter(1)));
  const run = lock;
  return new Promise((acquired) => void run(() => new Promise<void>((release) => acquired(release))));
}
