/** The values `watch(target, listener, { current: true })` delivers first. Loaded on first use. */
import { eventFor, type ChangeEvent, type WatchScope } from '../sync/watch.js';
import { parsePartId } from './ids.js';
import type { StoreIO } from './io.js';
import { readPrefix } from './parts.js';

/**
 * One event per stored id the watch reports (in id order), then, always and last, one for the watched key or prefix
 * itself (its value `undefined` when no such key is stored): that last event marks the end of the current values.
 */
export async function currentEvents(io: StoreIO, scope: WatchScope): Promise<ChangeEvent[]> {
  const self = scope.key ?? scope.prefix;
  const values = await readPrefix(io, self);
  const events: ChangeEvent[] = [];
  for (const [id, value] of values) {
    if (id === self) continue;
    const target = eventFor(scope, id, parsePartId(id));
    if (target) events.push({ ...target, value, kind: 'insert', origin: 'local', current: true });
  }
  const value = values.get(self);
  events.push({ key: self, value, kind: value === undefined ? 'delete' : 'insert', origin: 'local', current: true });
  return events;
}
