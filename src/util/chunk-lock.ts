/**
 * One lock per local replica between a big write (its chunks looked up and written, then its manifest) and the pull's
 * batches that delete chunks (the chunks a manifest here still refers to are written again first: gc.ts
 * `keepReferenced`). Without it, a write could find a chunk present, the pull's batch delete it, and the manifest land
 * pointing at a deleted chunk.
 */
const tails = new WeakMap<object, Promise<void>>();

/** Waits for the lock of `db`; resolves with its release. */
export async function lockChunks(db: object): Promise<() => void> {
  const previous = tails.get(db) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  tails.set(db, previous.then(() => mine));
  await previous;
  return release;
}
