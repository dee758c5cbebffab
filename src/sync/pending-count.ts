/** The `pending` event: counts again when the count may have changed, emits when it did. Loaded with its first listener. */
import type { FeatSync, SyncControllerDeps } from './controller.js';

/**
 * Returns the recount function: single flight (a call while counting counts once more after). Its `last(n)` emits the
 * count close() ended with (what its last push left), if it differs from the last one emitted.
 */
export function pendingCounter(sync: FeatSync, deps: SyncControllerDeps): (() => void) & { last(n: number): void } {
  let last: number | undefined;
  let counting = false;
  let again = false;
  const count = (): void => {
    if (deps.emitter.listenerCount('pending') === 0 || deps.closed()) return;
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
    last(n: number): void {
      if (n === last || deps.emitter.listenerCount('pending') === 0) return;
      last = n;
      deps.emitter.emit('pending', n);
    },
  });
}
