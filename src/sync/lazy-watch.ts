import { closedError, toFeatError, type FeatError } from '../errors.js';
import type { ChangeEvent, ChangeWatcher, ChangeWatcherOptions, WatchSource } from './watch.js';

/**
 * The watch source the store talks to: subscribes at once (the unsubscribe function is returned synchronously) and
 * loads the changes-feed code on the first subscription, so apps that never watch do not carry it.
 */
export class LazyWatch implements WatchSource {
  #options: ChangeWatcherOptions;
  #watcher: Promise<ChangeWatcher> | undefined;
  #closed = false;

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void, live?: (error?: FeatError) => void): () => void {
    let unsubscribe: (() => void) | undefined;
    let cancelled = false;
    this.#watcher ??= import('./watch.js').then((m) => new m.ChangeWatcher(this.#options));
    this.#watcher.then(
      (watcher) => {
        if (this.#closed) live?.(closedError());
        else if (!cancelled) unsubscribe = watcher.subscribe(keyOrPrefix, listener, live);
      },
      (error: unknown) => {
        live?.(toFeatError(error));
        this.#options.onError(toFeatError(error));
      },
    );
    return () => {
      cancelled = true;
      unsubscribe?.();
    };
  }

  report(error: FeatError): void {
    this.#options.onError(error);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await (await this.#watcher)?.close();
  }
}
