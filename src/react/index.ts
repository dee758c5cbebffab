/**
 * `@feat/sdk/react` — React hooks over a feat client: live values, keys, sync status and pending count.
 *
 * ```tsx
 * import { FeatProvider, useValue, useSyncStatus, usePending } from '@feat/sdk/react';
 *
 * <FeatProvider client={client}><Editor /></FeatProvider>
 *
 * function Editor() {
 *   const draft = useValue<string>('draft');   // { value, status, error, set }
 *   const status = useSyncStatus();             // 'idle' | 'offline' | …
 *   const pending = usePending();               // number | undefined
 *   return <textarea value={draft.value ?? ''} onChange={(e) => draft.set(e.target.value)} />;
 * }
 * ```
 *
 * Built on `useSyncExternalStore`: no tearing, a component renders only when what it reads changes, and on the server
 * the hooks render the loading state without any I/O. `react` (18 or later) is an optional peer dependency.
 */
import { createContext, createElement, useContext, useMemo, useSyncExternalStore, type ReactElement, type ReactNode } from 'react';
import type { FeatClient } from '../client.js';
import { FeatValidationError } from '../errors.js';
import type { SyncStatus } from '../sync/status.js';
import { partId } from '../store/ids.js';
import { validateKey } from '../store/validate.js';
import { Source, sourceOf, valueSource, watchSource, type LoadStatus, type Snapshot, type ValueSource } from './sources.js';

export type { LoadStatus, Snapshot };
export { useQuery, type QueryState } from './query.js';

/** A client with any schema (a schema makes `FeatClient<S>` invariant in `S`; the hooks type values themselves). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyFeatClient = FeatClient<any>;

const Context = createContext<AnyFeatClient | undefined>(undefined);

export interface FeatProviderProps {
  client: AnyFeatClient;
  children?: ReactNode;
}

/**
 * Makes `client` the one the hooks below it use. Returns a `ReactElement`, not `ReactNode`: TypeScript before 5.1
 * takes a component as JSX only when its return type is a `JSX.Element` (test/react/types.test-d.ts).
 */
export function FeatProvider({ client, children }: FeatProviderProps): ReactElement {
  return createElement(Context.Provider, { value: client }, children);
}

/** The client of the nearest {@link FeatProvider}. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- {}: no schema
export function useFeatClient<S extends {} = {}>(): FeatClient<S> {
  const client = useContext(Context);
  if (!client) throw new FeatValidationError('invalid_argument', 'The feat hooks need a <FeatProvider client={client}> above the component');
  return client as unknown as FeatClient<S>;
}

function useSource<S>(source: { subscribe(listener: () => void): () => void; get(): S }, server: S): S {
  return useSyncExternalStore(source.subscribe, source.get, () => server);
}

const loading = <T>(value: T): Snapshot<T> => Object.freeze({ value, status: 'loading' as LoadStatus, error: undefined });
const LOADING = loading(undefined);
const NO_PARTS = loading({});
const NO_KEYS = loading([]);

export interface ValueState<T> extends Snapshot<T | undefined> {
  /**
   * Writes a new value (or `undefined` to remove the key; or a function of the current value). Shown at once;
   * resolves once it is durable, rejects like `store.set()`.
   */
  set(next: T | undefined | ((previous: T | undefined) => T | undefined)): Promise<void>;
}

/**
 * The value of `key`, kept current (this device's writes and other devices'), with its load status and error, and a
 * setter. `value` is `undefined` while loading and when the key is absent. A key the store refuses throws
 * `invalid_key` while rendering.
 */
export function useValue<T = unknown>(key: string): ValueState<T> {
  validateKey(key);
  const client = useFeatClient();
  const source = sourceOf<ValueSource<T>>(client, 'v' + key, () => valueSource<T>(client, key));
  const snapshot = useSource(source, LOADING as Snapshot<T | undefined>);
  return useMemo(() => ({ ...snapshot, set: source.set }), [snapshot, source]);
}

/** The `key:subkey` parts of `key` as `{ subkey: value }`, kept current. */
export function useParts<T = unknown>(key: string): Snapshot<Record<string, T>> {
  validateKey(key);
  const client = useFeatClient();
  const source = sourceOf(client, 'p' + key, () =>
    watchSource<Record<string, T>>(client, { key }, {}, (parts, event) => {
      const subkey = event.subkey;
      if (event.key !== key || subkey === undefined || parts[subkey] === event.value) return parts;
      const next = { ...parts };
      if (event.value === undefined) delete next[subkey];
      else Object.defineProperty(next, subkey, { value: event.value, enumerable: true, writable: true, configurable: true });
      return next;
    }),
  );
  return useSource(source, NO_PARTS as Snapshot<Record<string, T>>);
}

/** The keys (including `key:subkey` parts) that start with `prefix`, sorted, kept current. */
export function useKeys(prefix = ''): Snapshot<string[]> {
  if (typeof prefix !== 'string') throw new FeatValidationError('invalid_argument', 'useKeys() takes a string prefix');
  const client = useFeatClient();
  const source = sourceOf(client, 'k' + prefix, () =>
    watchSource<string[]>(client, { prefix }, [], (keys, event) => {
      const id = event.subkey === undefined ? event.key : partId(event.key, event.subkey);
      const has = keys.includes(id);
      if (!id.startsWith(prefix) || has === (event.value !== undefined)) return keys;
      return has ? keys.filter((k) => k !== id) : [...keys, id].sort();
    }),
  );
  return useSource(source, NO_KEYS);
}

/** `client.sync.status`, kept current (`'connecting'` on the server). */
export function useSyncStatus(): SyncStatus {
  const client = useFeatClient();
  const source = sourceOf(client, 's', () => ({
    subscribe: (listener: () => void) => client.sync.on('status', listener),
    get: () => client.sync.status,
  }));
  return useSource(source, 'connecting');
}

/** `client.sync.pending()`, kept current by the `pending` event; `undefined` until it is known (and on the server). */
export function usePending(): number | undefined {
  const client = useFeatClient();
  const source = sourceOf(client, 'n', () => {
    const source: Source<number | undefined> = new Source<number | undefined>(undefined, () => {
      let heard = false;
      const off = client.sync.on('pending', (n) => {
        heard = true;
        source.put(n);
      });
      client.sync.pending().then(
        (n) => heard || source.put(n),
        () => undefined,
      );
      return off;
    });
    return source;
  });
  return useSource(source, undefined);
}
