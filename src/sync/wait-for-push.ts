import { FeatError, toFeatError } from '../errors.js';
import { anySignal, throwIfAborted } from '../util/abort.js';
import { monotonicNow } from '../util/clock.js';
import type { SyncControllerDeps, WaitForPushOptions } from './controller.js';
import { statusForError, type SyncStatus } from './status.js';

/** How long the looks of one call are refused, while sync is `denied`, before it rejects with the refusal. */
const REFUSED_FOR_MS = 2_000;

/**
 * `client.sync.waitForPush()`: ready, flush the write queue, then (local-first) wait until the server has every local
 * change made before the call — confirmed with `_revs_diff`, not assumed from replication events.
 */
export async function waitForPush(deps: SyncControllerDeps, options: WaitForPushOptions, status: () => SyncStatus): Promise<void> {
  const { timeout } = options;
  const timer = timeout === undefined ? undefined : AbortSignal.timeout(Math.ceil(timeout));
  const { signal, dispose } = anySignal([options.signal, timer, deps.lifetime]);
  /** The changes this call waits for (the documents not yet found on the server drop out of it). */
  let waiting: Map<string, string[]> | undefined;
  const fail = (): never => {
    // close() or logout() meanwhile: nothing will push any more.
    if (deps.lifetime.aborted && !options.signal?.aborted) throw deps.lifetime.reason;
    if (timer?.aborted && !options.signal?.aborted) {
      // The last confirmation's failure (the tracker keeps it until one succeeds): why the writes are not confirmed.
      const last = deps.localFirst()?.tracker?.failure;
      const why = last instanceof FeatError ? `; the last check failed: ${last.message}` : '';
      const ids = waiting ? [...waiting.keys()] : [];
      const which = ids.length ? `; not found there yet: ${ids.slice(0, 3).map((id) => JSON.stringify(id)).join(', ')}${ids.length > 3 ? ` and ${ids.length - 3} more` : ''}` : '';
      throw new FeatError('timeout', `The writes did not reach the server within ${timeout} ms (sync status: ${status()})${which}${why}`, last === undefined ? {} : { cause: last });
    }
    throwIfAborted(signal);
    throw new FeatError('aborted', 'The operation was aborted');
  };
  try {
    // Aborted already (or the client closing): the client's start is not begun.
    if (signal.aborted) fail();
    await race(deps.ready(), signal).catch((e: unknown) => (signal.aborted ? fail() : Promise.reject(e)));
    await race(deps.flush(), signal).catch((e: unknown) => (signal.aborted ? fail() : Promise.reject(e)));
    const lf = deps.localFirst();
    if (!lf?.tracker) return;
    const tracker = lf.tracker;
    // Every await is raced with the signal: a request stuck behind a hung token refresh must not hold the caller.
    const target = await race(tracker.localSeq(), signal).catch((e: unknown) => (signal.aborted ? fail() : Promise.reject(e)));
    // The changes made before the call not on the server yet, and this client's own writes not found there yet. One
    // changed again since (a pulled conflict's resolution replaced its leaf, a later write went on top) is no longer
    // below `target`: it counts once the server has it. (Nothing unverified at the call: only this client's writes.)
    const before =
      await race(tracker.verifiedSeq >= target ? tracker.writtenNow() : tracker.pendingNow(), signal).catch((e: unknown) => (signal.aborted ? fail() : Promise.reject(e)));
    waiting = before;
    const arrived = async (): Promise<boolean> => {
      try {
        return (await race(tracker.stillMissing(before), signal)) === 0;
      } catch {
        // offline, or the call's time up (handled at the top of the loop): not known to be there
        return false;
      }
    };
    /** The server was checked for a restore since the call (once: see below). */
    let checked = false;
    /** Since when this call's looks have been refused, while sync is `denied`. */
    let refusedSince: number | undefined;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      if (signal.aborted) fail();
      // (Changes made again since the call, not there yet: the loop waits with its backoff, not at once again.)
      const verified = tracker.verifiedSeq >= target;
      const moved = verified && !(await arrived());
      if (verified && !moved) {
        // What was verified before a restore of the server (a backup, a database made again) is no longer there, and
        // only the periodic check would see it: looked at once before saying the writes are on the server. Behind, sync
        // starts over and the tracker forgets what it verified (the loop waits for the writes to go again).
        const replicator = lf.leading ? lf.replicator : undefined;
        if (checked || !replicator) return;
        checked = true;
        try {
          await race(replicator.checkServer(), signal);
        } catch {
          // Not made (offline, the call's time up): what was verified stands (the replicator's next check looks again).
          if (options.signal?.aborted || deps.lifetime.aborted) fail();
          return;
        }
        if (tracker.verifiedSeq >= target) return;
      }
      // The replica was lost meanwhile (the site's data cleared): what was not on the server is gone with it.
      if (lf.lost) throw lf.lost;
      if (signal.aborted) fail();
      // A follower tab: the leader confirms (leader.ts).
      if (!lf.leading) await race(tracker.refresh(), signal).catch(() => undefined);
      else if (lf.replicator && (lf.status === 'idle' || lf.status === 'active' || lf.status === 'denied')) {
        try {
          await race(tracker.verify(), signal);
          refusedSince = undefined;
          // (The server's check above, before resolving: what was verified before a restore is not asked again here.)
          if (tracker.verifiedSeq >= target && !moved) continue;
        } catch (error) {
          // Sync refused the session (`denied`) and so did this call's looks for REFUSED_FOR_MS (a renewed credential is
          // tried; a provider renewing it slowly is given that long): the writes cannot go until the app signs in again
          // — said then, not at the call's timeout or never.
          const failure = toFeatError(error);
          if (!signal.aborted && lf.status === 'denied' && failure.key === undefined && statusForError(failure) === 'denied') {
            refusedSince ??= monotonicNow();
            if (monotonicNow() - refusedSince >= REFUSED_FOR_MS) throw failure;
          } else refusedSince = undefined;
          // offline again: keep waiting (an abort is handled at the top of the loop)
        }
      }
      // (Woken early once the push stores a batch or more writes are confirmed: looked at again at once.)
      await lf.afterPush(delay, signal).catch(() => fail());
    }
  } finally {
    dispose();
  }
}

function race<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // Not waited for: its own failure (closed) is nobody's to handle.
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
