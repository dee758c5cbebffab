import { abortError, FeatValidationError } from '../errors.js';

/** Rejects with an `aborted` FeatError if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Waits `ms`; rejects with `aborted` as soon as the signal aborts. Removes its listener either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      done();
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What {@link within} answers when the time ran out first. */
export const LATE = Symbol('late');

/**
 * The promise's value, or {@link LATE} once `ms` passed first (its timer cleared either way, and in Node it never keeps
 * the process alive; a rejection passes through, and after LATE it is ignored).
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => undefined);
  const late = new Promise<typeof LATE>((resolve) => {
    // (Timers wait at most 2^31-1 ms: a longer one, close()'s 2 x requestTimeout say, would fire at once.)
    timer = setTimeout(resolve, Math.min(ms, 2_147_483_647), LATE);
    (timer as { unref?(): void }).unref?.();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Races a promise against a signal; the listener is removed when either settles. */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    // Nobody waits for the promise any more: its failure must not surface as an unhandled rejection.
    promise.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A signal aborted by any of the given ones (listeners removed by `dispose`). */
export function anySignal(signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  for (const s of present) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose: () => present.forEach((s) => s.removeEventListener('abort', onAbort)),
  };
}

/** `signal` must be an AbortSignal (or absent): anything else is a caller's mistake → `invalid_argument`. */
export function checkSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  let cause;
  try {
    if (signal === undefined || signal instanceof AbortSignal) return;
  } catch (error) {
    // A Proxy whose getPrototypeOf trap throws.
    cause = error;
  }
  throw new FeatValidationError('invalid_argument', '"signal" must be an AbortSignal (e.g. from an AbortController)', { cause });
}

/**
 * Lets any number of calls listen to a long-lived internal signal (the client's lifetime: every `waitForPush()` in
 * flight listens to it). Node warns past 10 listeners on an EventTarget ("MaxListenersExceededWarning"); browsers do
 * not count. Where Node's `events` module cannot be reached without an import (older Node), nothing is done.
 */
export function manyListeners(signal: AbortSignal): void {
  try {
    ((globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.('node:events') as
      | { setMaxListeners?(n: number, ...targets: EventTarget[]): void }
      | undefined)?.setMaxListeners?.(0, signal);
  } catch {
    // not an EventTarget this Node version knows: the warning stays
  }
}
