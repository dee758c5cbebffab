/** The values `watch(target, listener, { current: true })` delivers first. Loaded on first use. */
import { FeatError } from '../errors.js';
import { eventFor, type ChangeEvent, type WatchScope } from '../sync/watch.js';
import { idTooLong, parsePartId } from './ids.js';
import type { StoreIO } from './io.js';
import { readPrefixResolved } from './parts.js';
import { currentValueOf, unreadableValue } from './unreadable.js';

/**
 * One event per stored id the watch reports (in id order); a watch of a key ends with one for the key itself, always
 * (its value `undefined` when the key is not stored). A prefix is no key: its watch reports only what is stored.
 * A document with conflicting leaves shows its resolution, as `get()` does after it (never the leaf it drops).
 */
export async function currentEvents(io: StoreIO, scope: WatchScope): Promise<{ events: ChangeEvent[]; revs: Map<string, string> }> {
  const self = scope.key ?? scope.prefix;
  /** The revision each value was read at (the watch drops the feed's changes it already holds). */
  const revs = new Map<string, string>();
  // A prefix longer than any key: nothing is stored under it (and a request line that long is refused), as keys() says.
  if (scope.prefix !== undefined && idTooLong(scope.prefix) !== undefined) return { events: [], revs };
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
  // Conflicting leaves read as `get()` reads them: resolved (and the revision read at, that of the resolution).
  const values = await readPrefixResolved({ ...io, valueOf }, self, self, undefined, false, (id, rev) => (rev === undefined ? revs.delete(id) : revs.set(id, rev)));
  const events: ChangeEvent[] = [];
  for (const [id, value] of values) {
    if (id === scope.key) continue;
    const target = eventFor(scope, id, parsePartId(id));
    if (target) events.push({ ...target, value, kind: 'insert', origin: 'local', current: true });
  }
  if (scope.key !== undefined) {
    const value = values.get(scope.key);
    events.push({ key: scope.key, value, kind: value === undefined ? 'delete' : 'insert', origin: 'local', current: true });
  }
  return { events, revs };
}
