/** The values `watch(target, listener, { current: true })` delivers first. Loaded on first use. */
import { endedBy, FeatError, toFeatError } from '../errors.js';
import { eventFor, type ChangeEvent, type WatchScope } from '../sync/watch.js';
import { parsePartId } from './ids.js';
import type { StoreIO } from './io.js';
import { readPrefix } from './parts.js';
import { currentValueOf, unreadableValue } from './unreadable.js';
import { oneAtATime, resolverRunning, SETTLE_WAIT_MS, turnOf } from './resolving.js';
import { LATE, within } from '../util/abort.js';

/**
 * One event per stored id the watch reports (in id order), then, always and last, one for the watched key or prefix
 * itself (its value `undefined` when no such key is stored): that last event marks the end of the current values.
 * A document with conflicting leaves shows its resolution, as `get()` does after it (never the leaf it drops).
 */
export async function currentEvents(io: StoreIO, scope: WatchScope): Promise<{ events: ChangeEvent[]; revs: Map<string, string> }> {
  const self = scope.key ?? scope.prefix;
  const conflicted: string[] = [];
  /** The revision each value was read at (the watch drops the feed's changes it already holds). */
  const revs = new Map<string, string>();
  // A document whose value cannot be read (another app's, a damaged one: unreadable.ts) reads as absent here, and is
  // reported (the client's `error` event): as `get()` of it fails alone, the other keys' current values still come.
  // The watched key's own fails the read (tried again), as its `get()` fails; an id the read covers but the watch
  // does not report (`todos` under a watch of `todo`) is left out silently.
  const valueOf: StoreIO['valueOf'] = async (db, raw) => {
    try {
      // (Read again at the current revision if another device replaced it and collected its chunks meanwhile.)
      return await currentValueOf(io, db, raw);
    } catch (error) {
      const id = raw._id;
      if (!unreadableValue(error, id) || id === scope.key) throw error;
      if (eventFor(scope, id, parsePartId(id))) io.ctx.reportError?.(new FeatError(error.code, `watch() left "${id}" out of the current values: ${error.message}`, { key: id, cause: error }));
      return undefined;
    }
  };
  const values = await readPrefix(
    {
      ...io,
      valueOf,
      allDocs: async (db, options, key) => {
        const answer = await io.allDocs(db, { ...options, conflicts: true }, key);
        for (const row of answer.rows) {
          if (row.doc?._conflicts?.length) conflicted.push(row.id);
          if (row.value?.rev) revs.set(row.id, row.value.rev);
        }
        return answer;
      },
    },
    self,
  );
  const db = conflicted.length > 0 ? await io.db() : undefined;
  for (const id of conflicted) {
    // (This client's unwritten value is shown as it is.)
    if (!db || io.queue().peek(id)) continue;
    // On the server the store's read resolves them; on a replica, as the replicator does after a pull.
    // While the key's resolver runs, its result (waited for, bounded) or the winner — nothing resolved twice.
    const turn = io.ctx.local && resolverRunning(io.ctx.closed, id) ? turnOf(io.ctx.closed, id) : undefined;
    if (turn) await within(turn, SETTLE_WAIT_MS);
    // (Not queued behind a resolution of the key here that does not end: what is stored is shown.)
    else if (io.ctx.local && !resolverRunning(io.ctx.closed, id) && (await within(turnOf(io.ctx.closed, id) ?? Promise.resolve(), SETTLE_WAIT_MS)) !== LATE) {
      const { resolveLeaves } = await import('../sync/resolve-leaves.js');
      const closed = io.ctx.closed;
      // A resolution that cannot finish (the resolver throws or does not settle in time) is reported, and the winner
      // shown; one ended by close() ends the read.
      await oneAtATime(closed, id, () => resolveLeaves(db, id, io.ctx.onConflict, io.ctx.emitConflict, (doc) => io.valueOf(db, doc), (key, op) => io.chunkIfLarge(db, key, op), closed)).catch(
        (error: unknown) => {
          if (closed?.aborted) throw endedBy(closed);
          io.ctx.reportError?.(toFeatError(error));
        },
      );
    }
    const raw = await io.read(db, id);
    if (raw?._rev) revs.set(id, raw._rev);
    else revs.delete(id);
    const value = raw && (await valueOf(db, raw));
    if (value === undefined) values.delete(id);
    else values.set(id, value);
  }
  const events: ChangeEvent[] = [];
  for (const [id, value] of values) {
    if (id === self) continue;
    const target = eventFor(scope, id, parsePartId(id));
    if (target) events.push({ ...target, value, kind: 'insert', origin: 'local', current: true });
  }
  const value = values.get(self);
  events.push({ key: self, value, kind: value === undefined ? 'delete' : 'insert', origin: 'local', current: true });
  return { events, revs };
}
