import { abortedTransaction, isLocalWait, localTimeout } from '../errors.js';
import { LATE, sleep, within } from './abort.js';
import { limiter } from './limit.js';
import { monotonicNow } from './clock.js';

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

/**
 * How long one step under the lock (one read or write of the replica) may take before the big write or pull batch
 * fails with `timeout` and the lock is released. A write may wait 30 s for the tabs' write lock and then 30 s for
 * IndexedDB (sync/tabs-writes.ts, which answers by then): this is the bound behind those, for any step that would
 * otherwise hold the lock forever (a read on a connection IndexedDB never answers on).
 */
export const CHUNK_STEP_MS = 2 * CHUNK_LOCK_WAIT_MS + 5_000;

/**
 * `step` (work done while holding the chunk lock), bounded: it settles within `ms` or rejects with `timeout`, so that
 * the lock's holder always reaches its release. The step itself is not stopped (a read or write of IndexedDB cannot
 * be cancelled): what it still does later is not reported as done, and chunks it writes late are orphans that
 * garbage collection removes.
 */
export async function underLock<T>(step: Promise<T>, what: string, ms = CHUNK_STEP_MS): Promise<T> {
  const done = await within(step, ms);
  if (done !== LATE) return done;
  throw localTimeout(`The local replica did not answer within ${ms} ms (${what}) while holding the chunk lock: ${BLOCKED} The lock was released; nothing more of this write is reported as written. Try again, or reload the other tabs.`);
}

const BLOCKED = "IndexedDB may be blocked by another connection (a tab that does not answer, or the app's own IndexedDB code).";

/**
 * How long one read of the replica may take before it is asked again. PouchDB's `indexeddb` adapter answers a read
 * (allDocs) only when its transaction completes: a transaction aborted instead is never answered. A tab frozen in that
 * read while another tab wrote (paused in a debugger, suspended) never saw it answered once resumed; the read asked
 * again, in a new transaction, is answered.
 */
export const READ_AGAIN_MS = 10_000;

/**
 * A read of the replica (`read` makes a new request each time): the store's reads (`get`, `keys`, `getParts`, a big
 * value's chunks), export's pages and the reads a write waits for. Each bounded and asked again, for `totalMs` in
 * all — and at least twice (a frozen tab's bound expires the moment it resumes, when its read was cut short by the
 * freeze) — then `timeout` (a local wait). `lockHeld`: the caller holds the chunk lock.
 */
export async function readReplica<T>(read: () => Promise<T>, what: string, lockHeld = false, totalMs = CHUNK_LOCK_WAIT_MS): Promise<T> {
  const deadline = monotonicNow() + totalMs;
  // Every read asked is still in the race: a slow one that answers after its bound is not thrown away.
  let reads: Promise<T> | undefined;
  for (let attempt = 1; ; attempt++) {
    // Each wait twice the last (10 s, then the rest of 30 s): a read that is only slow (a big replica, a slow device)
    // is not asked again and again, each one more scan of the replica.
    const ms = Math.max(1_000, Math.min(READ_AGAIN_MS * 2 ** (attempt - 1), deadline - monotonicNow()));
    const next = read();
    reads = reads ? Promise.race([reads, next]) : next;
    try {
      return await (lockHeld ? underLock(reads, what, ms) : within(reads, ms).then((done) => {
        if (done === LATE) throw localTimeout(`The local replica did not answer within ${totalMs} ms (${what}): ${BLOCKED} Nothing was read or written; try again, or reload the other tabs.`);
        return done;
      }));
    } catch (error) {
      // A read whose transaction was aborted (it failed at once rather than never answering) is asked again too,
      // after a pause that grows (jittered), and is out of the race.
      const failed = isLocalWait(error) ? undefined : abortedTransaction(error);
      if ((!failed && !isLocalWait(error)) || (attempt >= 2 && monotonicNow() >= deadline)) throw failed ?? error;
      if (failed) {
        reads = undefined;
        await sleep(Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
      }
    }
  }
}

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
      failed(localTimeout(`Waited ${waitMs} ms for the local replica's chunk lock ("feat-chunks:${String(name)}": a large write or sync batch in a tab that does not answer). Nothing was written; try again, or reload the other tabs.`));
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
