import { FeatValidationError } from '../errors.js';

/** Anything with `flush()`: redux-persist's persistor, a storage made by `createPersistStorage`, or `client.store`. */
export interface Flushable {
  flush(): unknown;
}

/** The events `flushOnHide` listens to (a `Window`, or any `EventTarget`). */
export interface HideTarget {
  addEventListener(type: string, listener: () => void, options?: { capture?: boolean }): void;
  removeEventListener(type: string, listener: () => void, options?: { capture?: boolean }): void;
  /** Read on `visibilitychange` when present (a `Document`); otherwise `globalThis.document.visibilityState`. */
  readonly visibilityState?: string | undefined;
}

export interface FlushOnHideOptions {
  /** Where `pagehide` and `visibilitychange` are listened to. @default globalThis (the window) */
  target?: HideTarget | undefined;
  /** A failed flush (the failure is also reported to whoever wrote). @default ignored */
  onError?: ((error: unknown) => void) | undefined;
}

/**
 * Flushes when the page is hidden or closed (`pagehide`, `visibilitychange` to hidden), so a closing tab loses nothing.
 * Give redux-persist's persistor first, then the storage: `flushOnHide([persistor, storage])` — the persistor writes
 * its pending (throttled) state into the storage, the storage makes it durable. Several flushes of one hide run in order.
 * Returns a function that removes the listeners. Outside a browser without `target` it does nothing.
 */
export function flushOnHide(flushables: Flushable | readonly Flushable[], options: FlushOnHideOptions = {}): () => void {
  const list: readonly unknown[] = Array.isArray(flushables) ? flushables : [flushables];
  if (list.length === 0 || !list.every((f) => typeof f === 'object' && f !== null && typeof (f as Flushable).flush === 'function')) {
    throw new FeatValidationError('invalid_argument', 'flushOnHide() takes an object with flush() (the persistor, the storage, client.store) or an array of them');
  }
  if (typeof options !== 'object' || options === null) throw new FeatValidationError('invalid_argument', 'flushOnHide() takes an options object');
  const { onError } = options;
  if (onError !== undefined && typeof onError !== 'function') {
    throw new FeatValidationError('invalid_argument', 'flushOnHide(): "onError" must be a function');
  }
  const target =
    options.target ??
    (typeof (globalThis as { addEventListener?: unknown }).addEventListener === 'function' ? (globalThis as unknown as HideTarget) : undefined);
  if (target === undefined) return () => undefined;
  if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') {
    throw new FeatValidationError('invalid_argument', 'flushOnHide(): "target" must be an EventTarget');
  }
  let running: Promise<void> | undefined;
  const flush = () => {
    // Chained: a second hide while a flush runs flushes again afterwards (it may have new writes to cover).
    const run = async () => {
      for (const f of list as readonly Flushable[]) {
        try {
          await f.flush();
        } catch (error) {
          onError?.(error);
        }
      }
    };
    running = (running ?? Promise.resolve()).then(run);
  };
  const onVisibility = () => {
    const state = target.visibilityState ?? (globalThis as { document?: { visibilityState?: string } }).document?.visibilityState;
    if (state === undefined || state === 'hidden') flush();
  };
  target.addEventListener('pagehide', flush);
  target.addEventListener('visibilitychange', onVisibility);
  return () => {
    target.removeEventListener('pagehide', flush);
    target.removeEventListener('visibilitychange', onVisibility);
  };
}
