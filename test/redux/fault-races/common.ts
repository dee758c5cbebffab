/**
 * Redux engine races and faults (a black-box attack of the thirty-third session, after `_persist` was put first): a
 * fetch wrapper that fails, stalls, delays or swallows the writes carrying `_persist` or the other slices, and traces
 * them. A version bump left `_persist` v2 over v1 slices when written apart (`bump-torn`); a purged device wrote its
 * unchanged slices back over another device's edit made meanwhile (`purge-edit`, `redux-races`).
 */
import { legacy_createStore } from 'redux';
import { persistReducer, persistStore, type Persistor } from 'redux-persist';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage, syncPersistedState } from '@feat/sdk/redux';
import { rootReducer, type AppState } from '../helpers.js';

export const outer = (o: Record<string, unknown>) =>
  JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)])));
export const P = (version: number) => ({ version, rehydrated: true });

export type Fault = 'none' | 'delay-persist' | 'fail-persist' | 'stall-persist' | 'swallow-persist' | 'fail-others' | 'fail-all';
/** A fetch wrapper: a write whose body carries the `_persist` doc (or other slices) fails / stalls / is swallowed. */
export function faultyFetch() {
  const ctl = { fault: 'none' as Fault, log: [] as string[], ids: [] as string[], name: '', times: Infinity, delayMs: 500 };
  const fetchFn: typeof fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    const isWrite = init?.method === 'POST' || init?.method === 'PUT' || init?.method === 'DELETE';
    const hasPersist = body.includes(':_persist"');
    const hasPersistDoc = /"_id":"persist:[^"]*:[^"_][^"]*"/.test(body);
    if (isWrite && body) ctl.log.push(`${hasPersist ? 'P' : ''}${hasPersistDoc ? 'S' : ''}`);
    if (isWrite && body && ctl.fault === 'none') {
      const ids = [...body.matchAll(/"_id":"(persist:[^"]*)"(?:,"_rev":"([^"]*)")?/g)].map((m) => m[1]!.replace('persist:root:', '') + (body.includes('"_deleted":true') ? '(del)' : ''));
      const t = performance.now().toFixed(0);
      ctl.ids.push(`${t} ${ctl.name}> ${ids.join(',')}`);
      const res = await (async () => { try { return await fetch(input, init); } catch (e) { ctl.ids.push(`${performance.now().toFixed(0)} ${ctl.name}< ERR`); throw e; } })();
      ctl.ids.push(`${performance.now().toFixed(0)} ${ctl.name}< ${res.status} ${ids.join(',')}`);
      return res;
    }
    const hit =
      isWrite && ctl.times > 0 &&
      ((ctl.fault === 'fail-persist' && hasPersist) ||
        (ctl.fault === 'delay-persist' && hasPersist) ||
        (ctl.fault === 'stall-persist' && hasPersist) ||
        (ctl.fault === 'swallow-persist' && hasPersist) ||
        (ctl.fault === 'fail-others' && hasPersistDoc && !hasPersist) ||
        (ctl.fault === 'fail-all' && (hasPersist || hasPersistDoc)));
    if (hit) {
      ctl.times--;
      if (ctl.fault === 'stall-persist')
        await new Promise((_, reject) => {
          if (init?.signal?.aborted) reject(init.signal.reason);
          init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        });
      if (ctl.fault === 'delay-persist') {
        await new Promise((r) => setTimeout(r, ctl.delayMs));
        return fetch(input, init);
      }
      if (ctl.fault === 'swallow-persist') {
        await fetch(input, init);
        throw new TypeError('fetch failed (answer lost)');
      }
      throw new TypeError('fetch failed');
    }
    return fetch(input, init);
  };
  return { ctl, fetchFn };
}

export interface Emu {
  couchUrl: string;
  accountsUrl: string;
  bearerFor(user: string): unknown;
  track<C extends FeatClient>(c: C): C;
}

export const mk = (emu: Emu, user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions),
  );

/** A started remote client of `user` whose requests go through a fresh {@link faultyFetch} (no fault yet). */
export async function faultyClient(emu: Emu, user: string, requestTimeout = 2000): Promise<{ ctl: ReturnType<typeof faultyFetch>['ctl']; c: FeatClient }> {
  const { ctl, fetchFn } = faultyFetch();
  const c = mk(emu, user, { fetch: fetchFn, requestTimeout });
  await c.ready();
  return { ctl, c };
}

/** What the server holds, read by a fresh remote client (parsed one level), or null. */
export async function stored(emu: Emu, user: string): Promise<Record<string, unknown> | null> {
  const reader = mk(emu, user);
  try {
    const text = await createPersistStorage(reader.store, { timeout: 0 }).getItem('persist:root');
    if (text === null) return null;
    const o = JSON.parse(text) as Record<string, string>;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, JSON.parse(v)]));
  } finally {
    await reader.close();
  }
}

export const settle = <T>(p: Promise<T>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string; message?: string }) => `rejected ${e?.code ?? ''} ${String(e?.message ?? e).slice(0, 80)}`,
  );

/** A redux app persisted through `c` (state version `version`), with `syncPersistedState` unless `sync` is false. */
export function app(c: FeatClient, opts: { sync?: boolean; version?: number } = {}) {
  const storage = createPersistStorage(c.store);
  const persistConfig = { key: 'root', storage, version: opts.version ?? 1 };
  const store = legacy_createStore(persistReducer(persistConfig as never, rootReducer as never));
  const persistor: Persistor = persistStore(store);
  const errors: unknown[] = [];
  const stop = opts.sync === false ? () => {} : syncPersistedState({ store, persistConfig, storage, onError: (e) => errors.push(e) });
  const state = () => store.getState() as unknown as AppState;
  const settleAll = async () => {
    await persistor.flush();
    await storage.flush();
  };
  return { storage, store, persistor, stop, state, settleAll, errors };
}
