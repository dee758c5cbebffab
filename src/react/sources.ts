/**
 * The external stores behind the hooks: one per client and key (shared by every component that reads it), each with
 * an immutable snapshot that changes only when what it holds changes — so `useSyncExternalStore` never tears and a
 * component renders only for its own keys. A source starts its subscription with its first subscriber and stops with
 * its last; then the client forgets it (a component that still holds it — StrictMode's remount — shows its last
 * snapshot while it re-reads, and makes it the client's source again).
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
  /** Set by {@link sourceOf}: told when the source gets its first subscriber (`true`) and loses its last. */
  keep?: (subscribed: boolean) => void;

  constructor(initial: S, start: (source: Source<S>) => () => void) {
    this.snapshot = initial;
    this.#start = start;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    this.keep?.(true);
    this.#stop ??= this.#start(this);
    return () => {
      this.#listeners.delete(listener);
      if (this.idle()) {
        this.#stop?.();
        this.#stop = undefined;
        this.keep?.(false);
      }
    };
  };

  idle = (): boolean => this.#listeners.size === 0;

  get = (): S => this.snapshot;

  put(snapshot: S): void {
    if (snapshot === this.snapshot) return;
    this.snapshot = snapshot;
    for (const listener of [...this.#listeners]) listener();
  }
}

const sources = new WeakMap<FeatClient, Map<string, object>>();

/** Drops the source named `name` when it has no subscriber (a function of its own: a timer holds no source). */
const forget = (map: Map<string, object>, name: string) => (map.get(name) as Source<unknown> | undefined)?.idle() && map.delete(name);

/**
 * The client's source named `name`, created on first use. A {@link Source} is kept while subscribed: dropped with its
 * last subscriber, or soon after the render that made it when no component subscribed (a render React discarded).
 */
export function sourceOf<X extends object>(client: FeatClient, name: string, create: () => X): X {
  const map = sources.get(client) ?? new Map<string, object>();
  sources.set(client, map);
  let source = map.get(name);
  if (!source) {
    const made = (source = create());
    map.set(name, made);
    if (made instanceof Source) {
      made.keep = (subscribed) => (subscribed ? map.has(name) || map.set(name, made) : forget(map, name));
      (setTimeout(forget, 1000, map, name) as { unref?: () => void }).unref?.();
    }
  }
  return source as X;
}

const snap = <T>(value: T, status: LoadStatus = 'ready', error?: FeatError): Snapshot<T> => ({ value, status, error });

/**
 * A source over `watch(target, …, { current: true })`: `apply` folds each event into the value (returning the
 * same value when nothing changed). The current values are folded from `initial` and shown together once `onCurrent`
 * ends them.
 */
export function watchSource<T>(
  client: FeatClient,
  target: { key: string } | { prefix: string },
  initial: T,
  apply: (value: T, event: ChangeEvent) => T,
): Source<Snapshot<T>> {
  return new Source<Snapshot<T>>(snap(initial, 'loading'), (source) => {
    let loaded: T | undefined;
    let loading = true;
    return startOr(source, (error) => snap(source.snapshot.value, 'error', error), () => client.store.watch(
      target,
      (event) => {
        if (loading) return void (loaded = apply(loaded ?? initial, event));
        const { value, status } = source.snapshot;
        const next = apply(value, event);
        if (next !== value || status !== 'ready') source.put(snap(next));
      },
      {
        current: true,
        onCurrent: () => {
          loading = false;
          source.put(snap(loaded ?? initial));
        },
        // (Still loading: the read is tried again, and only a whole read of the current values shows them.)
        onError: (error) => source.put(snap(source.snapshot.value, 'error', error)),
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
  const store = client.store;
  /**
   * The values this source wrote that the feed has not shown yet, oldest first: while there are some, the newest is on
   * screen. And how many of its writes are unsettled, and the functional updates waiting for the stored value.
   */
  let mine: (T | undefined)[] = [];
  /** The last value known stored (what the feed last showed of the key): on screen again when a write fails unread. */
  let confirmed: T | undefined;
  let writing = 0;
  let waiting: Promise<T | undefined> | undefined;
  /**
   * Once no write of this source is on its way: when the feed has not shown the newest one, shows what is stored if it
   * differs (a later write replaced it, or the write failed) and forgets the writes.
   */
  const check = async (error?: unknown) => {
    // (Not what is on screen: that is this source's own write, which may be the one that failed.)
    let stored = confirmed;
    let read = true;
    await store.get<T>(key).then(
      (v) => (stored = v),
      () => (read = false),
    );
    if (writing > 0 || mine.length === 0 || (!error && (!read || json(stored) === json(mine.at(-1))))) return;
    mine = [];
    source.put(snap(stored, error ? 'error' : 'ready', error ? toFeatError(error) : undefined));
  };
  const source = watchSource<T | undefined>(client, { key }, undefined, (value, event) => {
    if (event.key !== key || event.subkey !== undefined) return value;
    confirmed = event.value as T | undefined;
    if (mine.length > 0) {
      const seen = mine.findIndex((v) => json(v) === json(event.value));
      // One of this source's writes: the older ones before it will not come (or are stale).
      if (seen >= 0) mine = mine.slice(seen + 1);
      // Another value while this source's writes are on their way: older than them (their settling checks the store).
      // Once they settled (the feed may never show the newest one), ask the store.
      else if (!writing) void check();
      if (mine.length > 0) return mine.at(-1);
    }
    return json(event.value) === json(value) ? value : (event.value as T | undefined);
  }) as ValueSource<T>;
  const write = (value: T | undefined): Promise<void> => {
    mine.push(value);
    writing++;
    source.put(snap(value));
    const settled = (error?: unknown) => (--writing > 0 ? undefined : check(error));
    return (value === undefined ? store.remove(key) : store.set<string, unknown>(key, value)).then(
      () => settled(),
      async (error: unknown) => {
        await settled(error);
        throw error;
      },
    );
  };
  source.set = (next) => {
    const update = typeof next === 'function' ? (next as (previous: T | undefined) => T | undefined) : () => next;
    if (!waiting && (update !== next || source.snapshot.status === 'ready')) return write(update(source.snapshot.value));
    // A function of a value not loaded yet: applied to the stored value (after the updates already waiting for it).
    const value = (waiting ?? store.get<T>(key)).then(update);
    const done = () => void (waiting === value && (waiting = undefined));
    value.then(done, done);
    waiting = value;
    return value.then(write);
  };
  return source;
}
