import { endedBy, FeatConflictError } from '../errors.js';
import { anySignal, LATE, within, withSignal } from '../util/abort.js';
import { sameJson } from './codec.js';
import { snapshotValue } from './validate.js';
import { monotonicNow } from '../util/clock.js';
import { cloneJson } from '../util/json.js';
import { callResolver } from './resolver-calls.js';
import { resolverStarted } from './resolving.js';

/** One side of a conflict. */
export interface ConflictSide<T = unknown> {
  /** The value (undefined when deleted). */
  value: T | undefined;
  deleted: boolean;
  /** Write time in ms since the epoch, as recorded by the writer (0 when unknown, e.g. written by another app). */
  updatedAt: number;
  /** The revision (for a local write not yet stored: the revision it was based on, if any). */
  rev: string | undefined;
}

export interface Conflict<T = unknown> {
  /** The document id: the store key, or `key:subkey` for a part. */
  key: string;
  /** This device's version. */
  local: ConflictSide<T>;
  /** The other version (the server's, or another device's replicated revision). */
  remote: ConflictSide<T>;
}

/** Returns the value to keep (or a promise of it); `undefined` keeps the key deleted. */
export type ConflictResolver<T = unknown> = (conflict: Conflict<T>) => T | undefined | Promise<T | undefined>;

/** A side as the SDK stores it: with the expiry its writer set (`ttl`), which the resolver does not see. */
export interface StoredSide extends ConflictSide {
  expiresAt: number | undefined;
}

/**
 * The expiry of a resolved value: a side's value keeps that side's expiry (the newest such side's when several hold
 * it); a merge of them expires only when every live side would, at the latest of their times (a value is never lost
 * to an expiry that one of its sources did not have).
 */
export function keptExpiry(value: unknown, sides: StoredSide[]): number | undefined {
  let kept: StoredSide | undefined;
  for (const side of sides) if (!side.deleted && sameJson(side.value, value) && (!kept || side.updatedAt > kept.updatedAt)) kept = side;
  if (kept) return kept.expiresAt;
  const live = sides.filter((side) => !side.deleted);
  if (live.length === 0 || live.some((side) => side.expiresAt === undefined)) return undefined;
  return Math.max(...live.map((side) => side.expiresAt!));
}

/** Orders revisions: by generation, then by hash (CouchDB's winner order). */
export function compareRevs(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const [ga, ha = ''] = a.split('-');
  const [gb, hb = ''] = b.split('-');
  const d = Number(ga) - Number(gb);
  if (d !== 0) return d;
  return ha < hb ? -1 : ha > hb ? 1 : 0;
}

/** The side that wins under the default rule: latest `updatedAt`, ties to the higher revision. */
export function latestSide<T>(conflict: Conflict<T>): ConflictSide<T> {
  const { local, remote } = conflict;
  if (local.updatedAt !== remote.updatedAt) return local.updatedAt > remote.updatedAt ? local : remote;
  return compareRevs(local.rev, remote.rev) > 0 ? local : remote;
}

/** Default resolver: latest write wins; ties go to the higher revision. */
export const latestWriteWins: ConflictResolver = (conflict) => latestSide(conflict).value;

/**
 * How long an `onConflict` resolver may take to return its value (or settle its promise): 10 s. One that has not
 * settled by then is treated as one that throws (`conflict`): a write rejects and nothing is written; a replication
 * conflict (or one a remote-mode read finds) stays as it is, the read returns CouchDB's winner and the failure goes to
 * the `error` event. Its late answer is ignored. `close()` ends a wait for it at once (`closed`).
 */
export const RESOLVER_TIMEOUT_MS = 10_000;

/**
 * Resolvers that did not settle in time, and when: one is not asked again for {@link RESOLVER_TIMEOUT_MS} after (its
 * conflicts fail at once), so a batch of conflicts (a write batch, `find()`, an export) waits out one bound, not one
 * per conflict. Asked again after, or answered in time, it is trusted again.
 */
const hung = new WeakMap<ConflictResolver, number>();

/**
 * Asks the resolver, bounded by {@link RESOLVER_TIMEOUT_MS} and ended by `closed` (the client's lifetime signal):
 * its value, or `conflict` when it throws or does not settle in time (`outcome` says what that leaves), or the
 * FeatError `closed` was aborted with. Nothing stays attached to `closed` or to a timer once this settles.
 *
 * The resolver is shown copies of the sides' values: one that merges by changing a side in place (and returns it)
 * leaves the stored sides as they were, so the caller still tells a merge from a side kept as it is. With `stored`, a
 * side's value handed back unchanged passes even when the SDK would refuse to write it (another app's, e.g. nested
 * deeper than a value may be): the caller's own object for that side is returned, for it to keep the leaf as it is.
 */
export async function askResolver(resolve: ConflictResolver, conflict: Conflict, closed: AbortSignal | undefined, outcome: string, stored = false): Promise<unknown> {
  const key = conflict.key;
  const s = RESOLVER_TIMEOUT_MS / 1_000;
  const late = `onConflict must return the value to keep (or settle its promise) within ${s} s: do not wait on user input or on the network there (return a value, e.g. the latest side, and merge later)`;
  if (closed?.aborted) throw endedBy(closed);
  const since = hung.get(resolve);
  if (since !== undefined && monotonicNow() - since < RESOLVER_TIMEOUT_MS) {
    throw new FeatConflictError('conflict', `The conflict resolver did not settle within ${s} s for another conflict just before; not asked for "${key}": ${outcome}. ${late}`, { key });
  }
  const shown: Conflict = { key, local: { ...conflict.local, value: cloneJson(conflict.local.value) }, remote: { ...conflict.remote, value: cloneJson(conflict.remote.value) } };
  const settled = new AbortController();
  const ended = anySignal([closed, settled.signal]);
  const done = resolverStarted(closed, key);
  let answer: unknown;
  try {
    // (A resolver that throws at once rejects this promise, as one whose promise rejects.)
    answer = await within(withSignal(new Promise((r) => r(callResolver(closed, key, () => resolve(shown)))), ended.signal), RESOLVER_TIMEOUT_MS);
  } catch (error) {
    if (closed?.aborted) throw endedBy(closed);
    throw new FeatConflictError('conflict', `The conflict resolver failed for "${key}"; ${outcome}`, { key, cause: error });
  } finally {
    done();
    settled.abort();
    ended.dispose();
  }
  if (answer === LATE) {
    hung.set(resolve, monotonicNow());
    throw new FeatConflictError('conflict', `The conflict resolver did not settle within ${s} s for "${key}"; ${outcome}. ${late}`, { key });
  }
  hung.delete(resolve);
  // Its value is written as a value is: one that is not JSON is the resolver's failure (a read never fails with it).
  if (answer === undefined) return answer;
  try {
    return snapshotValue(answer, key);
  } catch (error) {
    // `stored`: a side's own value handed back unchanged (one the SDK would not write) is the caller's to keep as the
    // leaf it is (sync/resolve-leaves.ts), never written as a new revision.
    for (const side of ['local', 'remote'] as const) {
      if (stored && answer === shown[side].value && sameJson(answer, conflict[side].value)) return conflict[side].value;
    }
    throw new FeatConflictError('conflict', `The conflict resolver returned a value for "${key}" that cannot be stored (${(error as Error).message}); ${outcome}`, { key, cause: error });
  }
}
