import { describe, expectTypeOf, it } from 'vitest';
import { legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type PersistConfig, type Storage, type WebStorage } from 'redux-persist';
import type { FeatClient, FeatStore } from '@feat/sdk';
import {
  createPersistStorage,
  flushOnHide,
  syncPersistedState,
  REHYDRATE,
  type FeatPersistStorage,
  type FeatRehydrateAction,
  type SyncPersistedStateOptions,
} from '@feat/sdk/redux';

declare const client: FeatClient;
declare const rootReducer: Reducer<{ draft: string }>;

describe('@feat/sdk/redux types', () => {
  it('createPersistStorage takes client.store or the client and gives a redux-persist Storage', () => {
    expectTypeOf<FeatStore>().toExtend<Parameters<typeof createPersistStorage>[0]>();
    expectTypeOf<FeatClient>().toExtend<Parameters<typeof createPersistStorage>[0]>();
    const storage = createPersistStorage(client.store);
    expectTypeOf(createPersistStorage(client)).toEqualTypeOf<FeatPersistStorage>();
    expectTypeOf(storage).toExtend<Storage>();
    expectTypeOf(storage).toExtend<WebStorage>();
    expectTypeOf(storage.getItem).returns.toEqualTypeOf<Promise<string | null>>();
    expectTypeOf(storage.setItem).parameters.toEqualTypeOf<[string, string]>();
    expectTypeOf(storage.flush).returns.toEqualTypeOf<Promise<void>>();
    // @ts-expect-error not a store
    createPersistStorage({ getItem: () => null });
    expectTypeOf(createPersistStorage(client.store, { timeout: 1 })).toEqualTypeOf<FeatPersistStorage>();
    // @ts-expect-error the timeout is a number of ms
    createPersistStorage(client.store, { timeout: '1' });
  });

  it('syncPersistedState takes a redux store and the persistReducer config, and returns an unsubscribe', () => {
    const storage = createPersistStorage(client.store);
    const persistConfig: PersistConfig<{ draft: string }> = { key: 'root', storage, whitelist: ['draft'], timeout: 5000 };
    const store = legacy_createStore(persistReducer(persistConfig, rootReducer));
    const persistor = persistStore(store);
    const stop = syncPersistedState({ store, persistConfig, storage });
    expectTypeOf(stop).toEqualTypeOf<() => void>();
    expectTypeOf(syncPersistedState({ store, persistConfig, delay: 0, payload: 'all' })).toEqualTypeOf<() => void>();
    expectTypeOf<SyncPersistedStateOptions['payload']>().toEqualTypeOf<'changed' | 'all' | undefined>();
    expectTypeOf(REHYDRATE).toEqualTypeOf<'persist/REHYDRATE'>();
    expectTypeOf<FeatRehydrateAction['key']>().toEqualTypeOf<string>();
    // @ts-expect-error the store is required
    syncPersistedState({ persistConfig });

    expectTypeOf(flushOnHide([persistor, storage])).toEqualTypeOf<() => void>();
    expectTypeOf(flushOnHide(client.store, { target: new EventTarget() })).toEqualTypeOf<() => void>();
    // @ts-expect-error needs flush()
    flushOnHide({});
  });
});
