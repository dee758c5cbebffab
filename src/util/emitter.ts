import { FeatValidationError } from '../errors.js';

type Listener<T> = (event: T) => unknown;

/**
 * A tiny typed event emitter: `on` returns the unsubscribe function of that subscription alone (a function subscribed
 * twice is called twice, and each unsubscribe removes one, as `store.watch` and Node's EventEmitter do); a listener
 * that throws, or whose promise rejects, never breaks the others: its error goes to `onListenerError`.
 */
export class Emitter<Events extends Record<string, unknown>> {
  #listeners = new Map<keyof Events, Set<{ listener: Listener<never> }>>();
  #onListenerError: (error: unknown, event: keyof Events) => void;

  constructor(onListenerError: (error: unknown, event: keyof Events) => void = (error) => queueMicrotask(() => { throw error; })) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    if (typeof listener !== 'function') throw new FeatValidationError('invalid_argument', 'The listener must be a function');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    const entry = { listener: listener as Listener<never> };
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const entry of [...set]) {
      // Unsubscribed by a listener before it in this emit: not called.
      if (set.has(entry)) this.#call(name, entry.listener as Listener<Events[K]>, event);
    }
  }

  /** Tells `event` to one listener alone, if it is still subscribed (e.g. the current value to a new listener). */
  emitTo<K extends keyof Events>(name: K, listener: Listener<Events[K]>, event: Events[K]): void {
    for (const entry of this.#listeners.get(name) ?? []) {
      if (entry.listener === listener) return this.#call(name, listener, event);
    }
  }

  #call<K extends keyof Events>(name: K, listener: Listener<Events[K]>, event: Events[K]): void {
    try {
      const returned = listener(event);
      if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') {
        (returned as PromiseLike<unknown>).then(undefined, (error: unknown) => this.#onListenerError(error, name));
      }
    } catch (error) {
      this.#onListenerError(error, name);
    }
  }

  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
