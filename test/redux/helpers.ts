/** Shared setup of the redux tests: emulator clients, a spying store, a small persisted redux app. */
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig, type Persistor } from 'redux-persist';
import { createFeatClient, FeatError, type FeatClient, type FeatClientOptions, type FeatStore } from '@feat/sdk';
import { createPersistStorage, type FeatPersistStorage } from '@feat/sdk/redux';
import type { startEmulator } from '@feat/emulator';

export type Emulator = Awaited<ReturnType<typeof startEmulator>>;

let counter = 0;
export const uniqueUser = () => `redux-${process.pid}-${Date.now().toString(36)}-${counter++}`;

export const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const satisfies readonly { name: string; options: Partial<FeatClientOptions> }[];

export function makeClient(emu: Emulator, user: string, options: Partial<FeatClientOptions> = {}): FeatClient {
  return createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    local: { adapter: 'memory' },
    ...options,
  } as FeatClientOptions);
}

/**
 * Wraps `client.store`, recording every write (`set`/`remove`/`setItem`/`setParts`…) by key and counting the `getParts`
 * reads that answered; `getParts` may be slowed, and its first `failReads` calls fail with `network`.
 */
export function spyStore(store: FeatStore, opts: { readDelayMs?: number; failReads?: number } = {}) {
  const writes: string[] = [];
  const reads = { done: 0, failed: 0 };
  const delay = <T>(p: () => Promise<T>) =>
    opts.readDelayMs ? new Promise<void>((r) => setTimeout(r, opts.readDelayMs)).then(p) : p();
  const spy: FeatStore = {
    get: (key) => store.get(key),
    set: (key, value, ...rest) => {
      writes.push(key);
      return store.set(key, value, ...rest);
    },
    remove: (key) => {
      writes.push(`-${key}`);
      return store.remove(key);
    },
    getItem: (key) => delay(() => store.getItem(key)),
    setItem: (key, value) => {
      writes.push(key);
      return store.setItem(key, value);
    },
    removeItem: (key) => {
      writes.push(`-${key}`);
      return store.removeItem(key);
    },
    getParts: (key) =>
      delay(() =>
        reads.failed < (opts.failReads ?? 0) ? Promise.reject(new FeatError('network', `${++reads.failed}: a failing read`)) : store.getParts(key),
      ).then((parts) => {
        reads.done++;
        return parts;
      }),
    setParts: (key, parts, o) => {
      writes.push(...Object.keys(parts).map((k) => `${key}:${k}`));
      return store.setParts(key, parts, o);
    },
    removeParts: (key) => {
      writes.push(`-${key}:*`);
      return store.removeParts(key);
    },
    keys: (prefix) => store.keys(prefix),
    watch: (key, listener) => store.watch(key, listener),
    flush: () => store.flush(),
  } as FeatStore;
  return { store: spy, writes, reads };
}

export interface Draft {
  text: string;
}
export type AppState = Record<'a' | 'b' | 'c', Draft>;
export type SetAction = { type: 'set'; slice: keyof AppState; text: string } | { type: 'touch' };

const draft =
  (name: keyof AppState): Reducer<Draft, SetAction, Draft | undefined> =>
  (state = { text: `initial ${name}` }, action) => {
    if (action.type === 'set' && action.slice === name) return { text: action.text };
    // A new object with the same content: redux-persist serializes it again.
    if (action.type === 'touch') return { ...state };
    return state;
  };

export const rootReducer = combineReducers({ a: draft('a'), b: draft('b'), c: draft('c') });

/** `width` slices `s0`…: `'initial <i>'`, and `'<text> <i>'` after `{ type: 'fill', text }`. */
export function wideReducer(width: number): Reducer<Record<string, string>> {
  const slices: Record<string, Reducer<string, { type: string; text?: string }, string | undefined>> = {};
  for (let i = 0; i < width; i++) {
    slices[`s${i}`] = (state = `initial ${i}`, action) => (action.type === 'fill' ? `${action.text} ${i}` : state);
  }
  return combineReducers(slices) as unknown as Reducer<Record<string, string>>;
}

/** Resolves once redux-persist has rehydrated (or given up on) every persisted key. */
export function bootstrapped(persistor: Persistor): Promise<void> {
  return new Promise<void>((resolve) => {
    if (persistor.getState().bootstrapped) return resolve();
    const unsubscribe = persistor.subscribe(() => {
      if (persistor.getState().bootstrapped) {
        unsubscribe();
        resolve();
      }
    });
  });
}

/** A redux store persisted with the engine (`rootReducer` unless told), rehydrated (or timed out) before it resolves. */
export async function persistedApp<S extends object = AppState>(
  storage: FeatPersistStorage,
  extra: Partial<PersistConfig<S>> = {},
  baseReducer: Reducer<S> = rootReducer as unknown as Reducer<S>,
) {
  const persistConfig: PersistConfig<S> = { key: 'root', storage, ...extra };
  const reducer = persistReducer(persistConfig, baseReducer);
  const store = legacy_createStore(reducer);
  const persistor: Persistor = persistStore(store);
  await bootstrapped(persistor);
  /** redux-persist's pending writes, then the engine's. */
  const settle = async () => {
    await persistor.flush();
    await storage.flush();
  };
  return { store, persistor, persistConfig, settle };
}

/** A device persists `wideReducer(width)` filled with `'A <i>'`; resolves once that is on the server. */
export async function persistWideState(client: FeatClient, width: number): Promise<void> {
  const app = await persistedApp(createPersistStorage(client.store), {}, wideReducer(width));
  app.store.dispatch({ type: 'fill', text: 'A' });
  await app.settle();
  await client.sync.waitForPush({ timeout: 15_000 });
}

export { createPersistStorage };

export function waitFor(predicate: () => boolean | Promise<boolean>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error('waitFor timed out'));
      setTimeout(tick, 20);
    };
    void tick();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `store` with its `getParts` reads started `ctl.delayMs` late (changeable at any time); everything else as it is. */
export function slowReads(store: FeatStore) {
  const ctl = { delayMs: 0 };
  const slow = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property !== 'getParts') return method.bind(target);
      return (...args: unknown[]) => {
        const delay = ctl.delayMs;
        return delay > 0 ? sleep(delay).then(() => method.apply(target, args)) : method.apply(target, args);
      };
    },
  });
  return { store: slow, ctl };
}
