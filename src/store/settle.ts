/**
 * Reads that meet a document with conflicting leaves (loaded on first use: only such a document needs it): they wait
 * for a resolution under way, or resolve it themselves, one resolution of a document at a time (resolving.ts).
 */
import { endedBy, toFeatError, type FeatError } from '../errors.js';
import { resolveLeaves } from '../sync/resolve-leaves.js';
import { LATE, within } from '../util/abort.js';
import type { StoredDoc, WriteOp } from './codec.js';
import type { ConflictResolver } from './conflicts.js';
import type { Db } from './db.js';
import { oneAtATime, resolverRunning, SETTLE_WAIT_MS, turnOf } from './resolving.js';
import type { ConflictEvent } from './store.js';

export { oneAtATime } from './resolving.js';
export { resolveLeaves } from '../sync/resolve-leaves.js';

/** What a resolution here needs of the store. */
export interface SettleDeps {
  /** The client's lifetime signal: the scope of its resolutions. */
  closed: AbortSignal | undefined;
  onConflict: ConflictResolver | undefined;
  emitConflict(event: ConflictEvent): void;
  reportError?: ((error: FeatError) => void) | undefined;
  valueOf(db: Db, doc: StoredDoc): Promise<unknown>;
  chunkIfLarge(db: Db, id: string, op: WriteOp): Promise<string[] | undefined>;
  /** Local-first: the resolution under way of conflicting leaves a pull brought for `id`, if any. */
  resolution?: ((id: string) => Promise<void> | undefined) | undefined;
  /** A bounded read of the replica. */
  bounded<T>(read: () => Promise<T>, what: string): Promise<T>;
}

/**
 * True when `id`'s resolver is running (then nothing here resolves it again): a read made by that very resolver
 * (`byResolver`: called from its body) answers the winner at once; any other waits (up to {@link SETTLE_WAIT_MS}) for
 * that resolution to be written.
 */
export async function whileResolving(closed: AbortSignal | undefined, id: string, byResolver: boolean): Promise<boolean> {
  if (!resolverRunning(closed, id)) return false;
  const turn = byResolver ? undefined : turnOf(closed, id);
  if (turn) await within(turn, SETTLE_WAIT_MS);
  return true;
}

/**
 * The replica's version of `id` once its conflicting leaves are resolved: by the resolution under way after the pull
 * that brought them (waited for up to {@link SETTLE_WAIT_MS}), or here, as `watch({ current })` resolves them (the
 * same revisions: resolve-leaves.ts is deterministic). One that cannot finish is reported and the winner read, as
 * everywhere; one whose caller gave up (`signal`) is left to the sync.
 */
export async function settleReplica(deps: SettleDeps, db: Db, id: string, found: StoredDoc, signal: AbortSignal | undefined, byResolver: boolean): Promise<StoredDoc> {
  const { closed } = deps;
  const read = () => deps.bounded(() => db.get(id, { conflicts: true }), `reading "${id}"`);
  if (await whileResolving(closed, id, byResolver)) return byResolver ? found : read();
  const pending = deps.resolution?.(id);
  if (pending) await within(pending, SETTLE_WAIT_MS);
  let raw = pending ? await read() : undefined;
  if ((!raw || raw._conflicts?.length) && !signal?.aborted && !id.startsWith('_')) {
    // The sync reached the key meanwhile: what it wrote (waited for, bounded).
    if (await whileResolving(closed, id, byResolver)) return byResolver ? found : read();
    // A resolution of the key under way here that does not end (a replica that stopped answering) is not queued
    // behind: what is stored is read.
    const turn = turnOf(closed, id);
    if (turn && (await within(turn, SETTLE_WAIT_MS)) === LATE) return read();
    // (After any resolution of the key under way here: that one's result is found, nothing asked twice.)
    await oneAtATime(closed, id, () =>
      resolveLeaves(db, id, deps.onConflict, (event) => deps.emitConflict(event), (doc) => deps.valueOf(db, doc), (key, op) => deps.chunkIfLarge(db, key, op), closed),
    ).catch((error: unknown) => {
      if (closed?.aborted) throw endedBy(closed);
      deps.reportError?.(toFeatError(error, { key: id }));
    });
    raw = await read();
  }
  return raw ?? (await read());
}
