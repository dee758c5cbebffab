/**
 * The app's redux store, persisted with `@feat/sdk/redux` and synced with the user's other devices.
 *
 * Two slices, so that typing (the hot `draft`) never rewrites the preferences, and changing a preference never
 * rewrites the draft: the engine stores each top-level slice as its own small document.
 */
import { legacy_createStore, type Store, type UnknownAction } from 'redux';
import { persistReducer, persistStore, type PersistState, type Persistor } from 'redux-persist';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { createPersistStorage, flushOnHide, syncPersistedState, type FeatPersistStorage } from '@feat/sdk/redux';
import type { AppConfig } from './config';

export interface Draft {
  title: string;
  body: string;
  /** Which device edited it last, and when (ms since the epoch). */
  editedOn: string | null;
  editedAt: number | null;
}

export interface Prefs {
  theme: 'light' | 'dark';
  fontSize: number;
}

export type Action =
  | { type: 'draft/edit'; title?: string; body?: string; device: string; at: number }
  | { type: 'draft/clear'; device: string; at: number }
  | { type: 'prefs/theme'; theme: Prefs['theme'] }
  | { type: 'prefs/fontSize'; fontSize: number };

/** Action creators (the store also sees redux-persist's actions, so reducers take any action). */
export const actions = {
  edit: (change: { title?: string; body?: string }, device: string): Action => ({ type: 'draft/edit', ...change, device, at: Date.now() }),
  clear: (device: string): Action => ({ type: 'draft/clear', device, at: Date.now() }),
  theme: (theme: Prefs['theme']): Action => ({ type: 'prefs/theme', theme }),
  fontSize: (fontSize: number): Action => ({ type: 'prefs/fontSize', fontSize }),
};

const emptyDraft: Draft = { title: '', body: '', editedOn: null, editedAt: null };

function draft(state: Draft = emptyDraft, action: UnknownAction): Draft {
  const a = action as Action | UnknownAction;
  switch (a.type) {
    case 'draft/edit': {
      const { title, body, device, at } = a as Extract<Action, { type: 'draft/edit' }>;
      return { title: title ?? state.title, body: body ?? state.body, editedOn: device, editedAt: at };
    }
    case 'draft/clear': {
      const { device, at } = a as Extract<Action, { type: 'draft/clear' }>;
      return { ...emptyDraft, editedOn: device, editedAt: at };
    }
    default:
      return state;
  }
}

function prefs(state: Prefs = { theme: 'light', fontSize: 16 }, action: UnknownAction): Prefs {
  switch (action.type) {
    case 'prefs/theme':
      return { ...state, theme: (action as Extract<Action, { type: 'prefs/theme' }>).theme };
    case 'prefs/fontSize':
      return { ...state, fontSize: (action as Extract<Action, { type: 'prefs/fontSize' }>).fontSize };
    default:
      return state;
  }
}

/** Two top-level slices: each is stored as its own document by the engine. */
export interface RootState {
  draft: Draft;
  prefs: Prefs;
}

function rootReducer(state: RootState | undefined, action: UnknownAction): RootState {
  const next = { draft: draft(state?.draft, action), prefs: prefs(state?.prefs, action) };
  return state && next.draft === state.draft && next.prefs === state.prefs ? state : next;
}

export type AppStore = Store<RootState & { _persist: PersistState }, UnknownAction>;

export interface App {
  client: FeatClient;
  storage: FeatPersistStorage;
  store: AppStore;
  persistor: Persistor;
  /** Stops syncing and flushing, and closes the client. */
  close(): Promise<void>;
}

export function createApp(config: AppConfig): App {
  // Local-first (the default): reads and writes hit the IndexedDB replica, which syncs live with the server.
  const client = createFeatClient({
    couchUrl: config.couchUrl,
    accountsUrl: config.accountsUrl,
    auth: config.auth,
    local: { name: `feat-example-${config.user}-${config.device}` },
  });
  const storage = createPersistStorage(client.store);
  const persistConfig = { key: 'editor', storage, version: 1 };
  const store: AppStore = legacy_createStore(persistReducer(persistConfig, rootReducer));
  const persistor = persistStore(store);
  // Another device's change arrives as a REHYDRATE of the changed slices only.
  const stopSync = syncPersistedState({ store, persistConfig, storage });
  // A closing or hidden tab writes what redux-persist still holds, and the engine makes it durable.
  const stopFlush = flushOnHide([persistor, storage]);
  return {
    client,
    storage,
    store,
    persistor,
    async close() {
      stopSync();
      stopFlush();
      await persistor.flush();
      await storage.flush();
      await client.close();
    },
  };
}
