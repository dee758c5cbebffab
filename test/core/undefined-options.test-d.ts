/**
 * Apps compiled with `exactOptionalPropertyTypes` (this repository's tsconfig) forward their own optional arguments
 * as they are: `{ ttl }` with `ttl: number | undefined`. Every optional option the runtime takes as absent when it is
 * `undefined` (test/core/undefined-options.test.ts) is typed `T | undefined`, so that such a call compiles.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  createFeatClient,
  type ConflictResolver,
  type FeatClient,
  type FeatClientOptions,
  type IndexSpec,
  type Mode,
  type Query,
  type Selector,
  type SortField,
} from '@feat/sdk';
import { createPersistStorage, flushOnHide, syncPersistedState, type FeatPersistStorage, type HideTarget, type SyncPersistConfig } from '@feat/sdk/redux';

declare const client: FeatClient;
declare const maybe: {
  string: string | undefined;
  number: number | undefined;
  boolean: boolean | undefined;
  signal: AbortSignal | undefined;
  mode: Mode | undefined;
  onConflict: ConflictResolver | undefined;
  fetch: typeof fetch | undefined;
  indexes: readonly IndexSpec[] | undefined;
  selector: Selector | undefined;
  sort: SortField[] | undefined;
  warn: ((warning: string) => void) | undefined;
  onError: ((error: unknown) => void) | undefined;
  storage: FeatPersistStorage | undefined;
  payload: 'changed' | 'all' | undefined;
  target: HideTarget | undefined;
  text: 'text' | undefined;
};

describe('optional options take undefined (exactOptionalPropertyTypes)', () => {
  it('createFeatClient: every optional option, local, maintenance, session.userName, an index name', () => {
    const options: FeatClientOptions = {
      couchUrl: 'https://c.example',
      accountsUrl: maybe.string,
      auth: maybe.string,
      session: { dbName: 'userdb-61', headers: {}, userName: maybe.string },
      apiUrl: maybe.string,
      mode: maybe.mode,
      local: { adapter: maybe.string, name: maybe.string, identity: maybe.string, persist: maybe.boolean },
      onConflict: maybe.onConflict,
      fetch: maybe.fetch,
      maxDocumentBytes: maybe.number,
      maxRequestBytes: maybe.number,
      requestTimeout: maybe.number,
      initialSyncTimeout: maybe.number,
      bootstrapTimeout: maybe.number,
      conflictRetries: maybe.number,
      revCacheSize: maybe.number,
      maintenance: { enabled: maybe.boolean, intervalMs: maybe.number },
      indexes: [{ fields: ['due'], name: maybe.string }],
    };
    expectTypeOf(createFeatClient).toBeCallableWith(options);
    expectTypeOf(createFeatClient).toBeCallableWith({ couchUrl: 'https://c.example', accountsUrl: 'https://a.example', auth: 't', indexes: maybe.indexes });
  });

  it('queries, find and watchQuery options, waitForPush, export, import, maintenance.run', () => {
    const query: Query = { prefix: maybe.string, selector: maybe.selector, sort: maybe.sort, limit: maybe.number, skip: maybe.number };
    expectTypeOf(client.store.find).toBeCallableWith(query, { signal: maybe.signal, onWarning: maybe.warn });
    expectTypeOf(client.store.watchQuery).toBeCallableWith(query, () => undefined, { onError: maybe.onError, onWarning: maybe.warn });
    expectTypeOf(client.sync.waitForPush).toBeCallableWith({ signal: maybe.signal, timeout: maybe.number });
    void client.exportData({ format: maybe.text, signal: maybe.signal, onProgress: undefined });
    expectTypeOf(client.importData).toBeCallableWith('', { signal: maybe.signal, onProgress: undefined });
    expectTypeOf(client.maintenance.run).toBeCallableWith({ signal: maybe.signal, chunkGraceMs: maybe.number });
  });

  it('store and client call options (src/store/store.ts, src/client.ts)', () => {
    void client.store.set('k', 1, { ttl: maybe.number, signal: maybe.signal });
    void client.store.setParts('k', { a: 1 }, { replace: maybe.boolean, signal: maybe.signal });
    void client.store.get('k', { signal: maybe.signal });
    client.store.watch('k', () => undefined, { initial: maybe.boolean, current: maybe.boolean, onError: undefined });
    void client.ready({ signal: maybe.signal });
    void client.logout({ destroyLocal: maybe.boolean });
  });

  it('@feat/sdk/redux: createPersistStorage, syncPersistedState, flushOnHide', () => {
    expectTypeOf(createPersistStorage).toBeCallableWith(client.store, { timeout: maybe.number });
    const persistConfig: SyncPersistConfig = { key: 'root' };
    expectTypeOf(syncPersistedState).toBeCallableWith({
      store: { dispatch: () => undefined },
      persistConfig,
      storage: maybe.storage,
      delay: maybe.number,
      payload: maybe.payload,
      onError: maybe.onError,
    });
    expectTypeOf(flushOnHide).toBeCallableWith(client.store, { target: maybe.target, onError: maybe.onError });
    const target: HideTarget = { addEventListener: () => undefined, removeEventListener: () => undefined, visibilityState: maybe.string };
    expectTypeOf(flushOnHide).toBeCallableWith(client.store, { target });
  });
});
