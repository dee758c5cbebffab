import type { ChangeEvent, ChangeWatcher, ChangeWatcherOptions, CurrentRead, WatchSource } from './watch.js';

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

  subscribe(keyOrPrefix: string, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void {
    let unsubscribe: (() => void) | undefined;
    let cancelled = false;
    this.#watcher ??= import('./watch.js').then((m) => new m.ChangeWatcher(this.#options));
    this.#watcher.then(
      (watcher) => {
        if (!cancelled && !this.#closed) unsubscribe = watcher.subscribe(keyOrPrefix, listener, current);
      },
      (error: unknown) => this.#options.onError(error as never),
    );
    return () => {
      cancelled = true;
      unsubscribe?.();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await (await this.#watcher)?.close();
  }
}
