/**
 * The external stores behind the hooks: one per client and key (shared by every component that reads it), each with
 * an immutable snapshot that changes only when what it holds changes — so `useSyncExternalStore` never tears and a
 * component renders only for its own keys. A source starts its subscription with its first subscriber and stops with
 * its last; its snapshot is kept, so a remount (StrictMode) shows the last value while it re-reads.
 */
import type { FeatClient } from '../client.js';
import { toFeatError, type FeatError } from '../errors.js';
import type { ChangeEvent } from '../sync/watch.js';

/** `loading`: the current value is being read; `ready`: it is there (and kept current); `error`: reading it failed. */
export type LoadStatus = 'loading' | 'ready' | 'error';

export interface Snapshot<T> {
  readonly value: T;
  readonly status: LoadStatus;
  /** Why the value could not be read (`status: 'error'`); cleared by the next value. */
  readonly error: FeatError | undefined;
}

export class Source<S> {
  snapshot: S;
  #listeners = new Set<() => void>();
  #stop: (() => void) | undefined;
  #start: (source: Source<S>) => () => void;

  constructor(initial: S, start: (source: Source<S>) => () => void) {
    this.snapshot = initial;
    this.#start = start;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    this.#stop ??= this.#start(this);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#stop?.();
        this.#stop = undefined;
      }
    };
  };

  get = (): S => this.snapshot;

  put(snapshot: S): void {
    if (snapshot === this.snapshot) return;
    this.snapshot = snapshot;
    for (const listener of [...this.#listeners]) listener();
  }
}

const sources = new WeakMap<FeatClient, Map<string, object>>();

/** The client's source named `name`, created on first use. */
export function sourceOf<X extends object>(client: FeatClient, name: string, create: () => X): X {
  let map = sources.get(client);
  if (!map) sources.set(client, (map = new Map()));
  let source = map.get(name);
  if (!source) map.set(name, (source = create()));
  return source as X;
}

const snap = <T>(value: T, status: LoadStatus = 'ready', error?: FeatError): Snapshot<T> => ({ value, status, error });

/**
 * A source over `watch(target, …, { current: true })`: `apply` folds each event into the value (returning the
 * same value when nothing changed). The current values are folded from `initial` and shown together, once the event
 * for the watched key or prefix itself marked `current` ends them — on every (re)start, so nothing removed meanwhile lingers.
 */
export function watchSource<T>(
  client: FeatClient,
  target: { key: string } | { prefix: string },
  initial: T,
  apply: (value: T, event: ChangeEvent) => T,
): Source<Snapshot<T>> {
  const self = 'key' in target ? target.key : target.prefix;
  return new Source<Snapshot<T>>(snap(initial, 'loading'), (source) => {
    let loaded: T | undefined;
    let loading = true;
    return startOr(source, (error) => snap(source.snapshot.value, 'error', error), () => client.store.watch(
      target,
      (event) => {
        if (loading) {
          loaded = apply(loaded ?? initial, event);
          if (!event.current || event.key !== self || event.subkey !== undefined) return;
          loading = false;
          return source.put(snap(loaded));
        }
        const { value, status } = source.snapshot;
        const next = apply(value, event);
        if (next !== value || status !== 'ready') source.put(snap(next));
      },
      {
        current: true,
        onError: (error) => {
          loading = false;
          source.put(snap(source.snapshot.value, 'error', error));
        },
      },
    ));
  });
}

/**
 * Starts a source's subscription with `start`; when it throws (the client is closed), the source shows the error
 * (`failed`) instead of throwing inside React's subscribe, and stays as it is.
 */
export function startOr<S>(source: Source<S>, failed: (error: FeatError) => S, start: () => () => void): () => void {
  try {
    return start();
  } catch (error) {
    source.put(failed(toFeatError(error)));
    return () => undefined;
  }
}

/** How values are compared (they are JSON): `''` stands for "absent". */
const json = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

/** A value and its setter, which shows the new value at once and keeps this client's older writes from flashing back. */
export interface ValueSource<T> extends Source<Snapshot<T | undefined>> {
  set(next: T | undefined | ((previous: T | undefined) => T | undefined)): Promise<void>;
}

export function valueSource<T>(client: FeatClient, key: string): ValueSource<T> {
  /** The values this source wrote that the feed has not shown yet, oldest first; and how many writes are unsettled. */
  let mine: string[] = [];
  let writing = 0;
  const source = watchSource<T | undefined>(client, { key }, undefined, (value, event) => {
    if (event.key !== key || event.subkey !== undefined) return value;
    if (mine.length > 0 && event.origin === 'local') {
      // One of this source's writes (or an older local one): the newest value written stays on screen until the feed
      // catches up with it.
      const seen = mine.indexOf(json(event.value));
      if (seen >= 0) mine = mine.slice(seen + 1);
      return source.snapshot.value;
    }
    return json(event.value) === json(value) ? value : (event.value as T | undefined);
  }) as ValueSource<T>;
  source.set = (next) => {
    const value = typeof next === 'function' ? (next as (previous: T | undefined) => T | undefined)(source.snapshot.value) : next;
    mine.push(json(value));
    writing++;
    source.put(snap(value));
    const store = client.store;
    const write = value === undefined ? store.remove(key) : store.set<string, unknown>(key, value);
    const settled = async (error?: unknown) => {
      if (--writing > 0 || mine.length === 0) return;
      // The feed has not shown the last write: a later write (not through this source) may have replaced it, or the
      // write failed. Ask the store what is there now.
      const last = mine.at(-1);
      let stored = source.snapshot.value;
      let read = true;
      await store.get<T>(key).then(
        (v) => (stored = v),
        () => (read = false),
      );
      if (writing > 0 || (!error && (!read || json(stored) === last))) return;
      mine = [];
      source.put(snap(stored, error ? 'error' : 'ready', error ? toFeatError(error) : undefined));
    };
    return write.then(
      () => settled(),
      async (error: unknown) => {
        await settled(error);
        throw error;
      },
    );
  };
  return source;
}
