import type { WriteOp } from '../store/codec.js';
import type { ChangeEvent, ChangeWatcher, ChangeWatcherOptions, CurrentRead, WatchScope, WatchSource } from './watch.js';
import { LATE, within } from '../util/abort.js';
import { monotonicNow } from '../util/clock.js';

/**
 * The watch source the store talks to: subscribes at once (the unsubscribe function is returned synchronously) and
 * loads the changes-feed code on the first subscription, so apps that never watch do not carry it.
 */
export class LazyWatch implements WatchSource {
  #options: ChangeWatcherOptions;
  #watcher: Promise<ChangeWatcher> | undefined;
  /** The watcher once loaded (writes then ask it directly). */
  #loaded: ChangeWatcher | undefined;
  /** Subscriptions made before the watcher loaded and still there, and the starting point the first of them asked for. */
  #early = 0;
  #pinned: Promise<{ update_seq?: unknown }> | undefined;

  constructor(options: ChangeWatcherOptions) {
    this.#options = options;
  }

  subscribe(target: WatchScope, listener: (event: ChangeEvent) => void, current?: CurrentRead): () => void {
    let unsubscribe: (() => void) | undefined;
    let cancelled = false;
    // The starting point is asked for now, not once the code has loaded (tens of ms, a request in a browser): another
    // device's change that arrives meanwhile is one made after watch() returned. Only while a subscription made before
    // the load is still there: one made after all of them went pins its own.
    // (A client not started yet is not started here: its feed starts once the app's ready() opened the database.)
    const early = !this.#loaded;
    if (early && this.#early++ === 0) {
      const db = this.#options.dbNow?.();
      // (Not started: from the replica as it opens, before its first pull — see ChangeWatcherOptions.opened.)
      this.#pinned = db ? db.info() : this.#options.opened?.();
      this.#pinned?.catch(() => undefined);
    }
    this.#watcher ??= import('./watch.js').then((m) => (this.#loaded = new m.ChangeWatcher({ ...this.#options, pinned: this.#early > 0 ? this.#pinned : undefined })));
    this.#watcher.then(
      (watcher) => {
        // (Even when the client closed meanwhile: a watch with its own `onError` is told `closed`.)
        if (!cancelled) unsubscribe = watcher.subscribe(target, listener, current);
      },
      (error: unknown) => this.#options.onError(error as never),
    );
    return () => {
      if (!cancelled && early && !this.#loaded) this.#early--;
      cancelled = true;
      unsubscribe?.();
    };
  }

  started(ms: number): Promise<void> | undefined {
    if (this.#loaded) return this.#loaded.started(ms);
    return this.#watcher && this.#loading(this.#watcher, ms);
  }

  async #loading(watcher: Promise<ChangeWatcher>, ms: number): Promise<void> {
    const deadline = monotonicNow() + ms;
    const loaded = await within(watcher.catch(() => undefined), ms);
    if (loaded !== LATE) await loaded?.started(Math.max(0, deadline - monotonicNow()));
  }

  /** See WatchSource.wrote (nothing to do before the first subscription loaded the watcher). */
  wrote(id: string, rev: string, op: WriteOp): void {
    this.#loaded?.wrote(id, rev, op);
  }

  /** See ChangeWatcher.resume. */
  resume(): void {
    this.#loaded?.resume();
  }

  async close(): Promise<void> {
    await (await this.#watcher)?.close();
  }
}
