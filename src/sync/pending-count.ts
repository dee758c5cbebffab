/** The `pending` event: counts again when the count may have changed, emits when it did. Loaded with its first listener. */
import type { FeatSync, SyncControllerDeps } from './controller.js';
import { SYNC_WRITE } from './tabs-writes.js';

/**
 * Returns the recount function: single flight (a call while counting counts once more after). Its `last(n)` emits the
 * count close() ended with (what its last push left), if it differs from the last one emitted.
 */
export function pendingCounter(sync: FeatSync, deps: SyncControllerDeps): (() => void) & { last(n: number): void; stop(): void; told(): boolean } {
  let last: number | undefined;
  let counting = false;
  let again = false;
  /** The other tabs' writes to the shared replica, heard while someone listens (see `hear`). */
  let heard: { name: string; channel: BroadcastChannel } | undefined;
  const listening = () => deps.emitter.listenerCount('pending') > 0 && !deps.closed();
  /**
   * Another tab's (or worker's) write to this tab's IndexedDB replica changes the count too (README: it holds in every
   * tab), and only that tab hears it from its own write: every write to the replica is announced on the
   * BroadcastChannel `feat-writes:<replica>` (tabs-writes.ts), which this tab follows while someone listens.
   */
  const hear = (): void => {
    const name = listening() ? deps.localFirst()?.localName : undefined;
    if (heard && heard.name === name) return;
    heard?.channel.close();
    heard = undefined;
    if (name === undefined || typeof BroadcastChannel !== 'function' || typeof indexedDB === 'undefined') return;
    const channel = new BroadcastChannel(`feat-writes:${name}`);
    // (Not replication's writes — a pulled batch, a checkpoint: this tab learns of those from the leader's confirmation.)
    channel.onmessage = (event: MessageEvent) => !String(event.data).endsWith(SYNC_WRITE) && count();
    (channel as { unref?: () => void }).unref?.();
    heard = { name, channel };
  };
  const count = (): void => {
    hear();
    if (!listening()) return;
    if (counting) {
      again = true;
      return;
    }
    counting = true;
    sync
      .pending()
      .then(
        (n) => {
          if (n === last || deps.closed()) return;
          last = n;
          deps.emitter.emit('pending', n);
        },
        () => undefined,
      )
      .finally(() => {
        counting = false;
        if (again) {
          again = false;
          count();
        }
      });
  };
  return Object.assign(count, {
    /** True once a count was told (a listener coming later hears the current one from the controller). */
    told: (): boolean => last !== undefined,
    /** close(): the other tabs' writes are no longer heard. */
    stop(): void {
      heard?.channel.close();
      heard = undefined;
    },
    last(n: number): void {
      if (n === last || deps.emitter.listenerCount('pending') === 0) return;
      last = n;
      deps.emitter.emit('pending', n);
    },
  });
}
