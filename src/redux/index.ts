/**
 * `@feat/sdk/redux` — a redux-persist storage engine over the feat store.
 *
 * ```ts
 * import { createPersistStorage, syncPersistedState, flushOnHide } from '@feat/sdk/redux';
 * const storage = createPersistStorage(client.store);
 * const persistConfig = { key: 'root', storage };
 * const store = createStore(persistReducer(persistConfig, rootReducer));
 * const persistor = persistStore(store);
 * syncPersistedState({ store, persistConfig, storage });
 * flushOnHide([persistor, storage]);
 * ```
 *
 * No runtime dependency on redux or redux-persist: the types are structural.
 */
export { createPersistStorage, type FeatPersistStorage, type PersistBackingStore, type PersistStorageOptions } from './storage.js';
export {
  syncPersistedState,
  REHYDRATE,
  type FeatRehydrateAction,
  type SyncPersistConfig,
  type SyncPersistedStateOptions,
} from './sync.js';
export { flushOnHide, type Flushable, type FlushOnHideOptions, type HideTarget } from './flush-on-hide.js';
