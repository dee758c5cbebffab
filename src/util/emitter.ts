import { FeatValidationError } from '../errors.js';

type Listener<T> = (event: T) => void;

/** A tiny typed event emitter: `on` returns the unsubscribe function; a throwing listener never breaks the others. */
export class Emitter<Events extends Record<string, unknown>> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>();
  #onListenerError: (error: unknown, event: keyof Events) => void;

  constructor(onListenerError: (error: unknown, event: keyof Events) => void = (error) => queueMicrotask(() => { throw error; })) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    if (typeof listener !== 'function') throw new FeatValidationError('invalid_argument', 'The listener must be a function');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    const entry = listener as Listener<never>;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (error) {
        this.#onListenerError(error, name);
      }
    }
  }

  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
