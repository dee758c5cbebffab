/** The values `watch(keyOrPrefix, listener, { current: true })` delivers first. Loaded on first use. */
import { eventFor, type ChangeEvent } from '../sync/watch.js';
import type { StoreIO } from './io.js';
import { readPrefix } from './parts.js';

/**
 * One event per stored id the watch matches (in id order), then, always and last, one for `keyOrPrefix` itself (its
 * value `undefined` when absent): that last event marks the end of the current values.
 */
export async function currentEvents(io: StoreIO, keyOrPrefix: string): Promise<ChangeEvent[]> {
  const values = await readPrefix(io, keyOrPrefix);
  const events: ChangeEvent[] = [];
  const add = (id: string, value: unknown) =>
    events.push({ ...eventFor(keyOrPrefix, id, value, value === undefined ? 'delete' : 'insert', 'local'), current: true });
  for (const [id, value] of values) if (id !== keyOrPrefix) add(id, value);
  add(keyOrPrefix, values.get(keyOrPrefix));
  return events;
}

