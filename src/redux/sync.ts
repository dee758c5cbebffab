import { FeatError, FeatValidationError } from '../errors.js';
import type { ChangeEvent } from '../sync/watch.js';
import { backoff } from '../util/backoff.js';
import { valueToSlice } from './codec.js';
import { DEFAULT_REHYDRATE_TIMEOUT_MS, engineOf, PERSIST_PREFIX, type FeatPersistStorage } from './storage.js';

/** redux-persist's REHYDRATE action type (`redux-persist/es/constants`), kept here so this entry has no runtime dependency. */
export const REHYDRATE = 'persist/REHYDRATE' as const;

/** The REHYDRATE action `syncPersistedState` dispatches (redux-persist's `RehydrateAction`). */
export type FeatRehydrateAction = {
  type: typeof REHYDRATE;
  key: string;
  payload: Record<string, unknown>;
  err: undefined;
};

/** The parts of a redux-persist `PersistConfig` that syncing uses (a real `PersistConfig` fits). */
export interface SyncPersistConfig {
  key: string;
  keyPrefix?: string | undefined;
  storage?: unknown;
  whitelist?: readonly string[] | undefined;
  blacklist?: readonly string[] | undefined;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- redux-persist's Transform is typed with any
  transforms?: readonly { in?: (subState: any, key: any, state: any) => unknown; out: (subState: any, key: any, rawState: any) => unknown }[] | undefined;
  /** redux-persist's runtime option (not in its types): how each slice is serialized. @default JSON.stringify */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as redux-persist's
  serialize?: ((state: any) => string) | boolean | undefined;
  /** redux-persist's rehydrate timeout; must be the storage's `timeout`. @default 5000 */
  timeout?: number | null | undefined;
  /** redux-persist's runtime option (not in its types): how each slice string is parsed. @default JSON.parse */
  deserialize?: ((serialized: string) => unknown) | false | undefined;
}

export interface SyncPersistedStateOptions {
  /**
   * The redux store (anything with `dispatch`). With `getState` and `subscribe` (a redux store), an edit made after a
   * rehydrate that timed out but before redux-persist's first write (`throttle`) is told from the initial state.
   */
  // (`any`: a redux store typed with the app's own action union lists no REHYDRATE, as redux-persist's persistStore() takes.)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  store: { dispatch(action: any): unknown; getState?(): unknown; subscribe?(listener: () => void): unknown };
  /** The same config given to `persistReducer`. */
  persistConfig: SyncPersistConfig;
  /** The storage made by `createPersistStorage`. @default persistConfig.storage */
  storage?: FeatPersistStorage | undefined;
  /** Remote changes arriving within this many ms are applied in one REHYDRATE. @default 10 */
  delay?: number | undefined;
  /**
   * `'changed'`: the payload holds only the slices another device changed (right for the default `autoMergeLevel1` and
   * for `autoMergeLevel2`: the other slices keep their current state). `'all'`: every slice, for `hardSet`.
   * @default 'changed'
   */
  payload?: 'changed' | 'all' | undefined;
  /**
   * Failures while applying remote changes (reading a slice, deserializing), and (once) a `FeatError` `conflict` when
   * redux-persist ignored a REHYDRATE after `persistor.purge()`: reload the app to follow other devices again.
   * @default console.warn
   */
  onError?: ((error: unknown) => void) | undefined;
}

interface Dirty {
  /** The slice string as the change carried it (`undefined`: deleted); ignored when `read` is set. */
  value: string | undefined;
  /** The engine's write counter for the slice when the change arrived. */
  seq: number;
  /** Read the stored slice instead of trusting `value` (this device wrote it meanwhile). */
  read: boolean;
}

/**
 * Keeps a persisted redux state in step with the user's other devices: when another device changes slices of
 * `persistConfig.key`, this store gets a REHYDRATE with them. The engine knows the redux state now holds those values, so
 * redux-persist's write that follows sends nothing back (no echo), and devices editing different slices never ping-pong.
 * Also applies the stored slices a device missed when its own rehydrate timed out.
 *
 * Returns a function that stops syncing.
 */
export function syncPersistedState(options: SyncPersistedStateOptions): () => void {
  if (typeof options !== 'object' || options === null) throw new FeatValidationError('invalid_argument', 'syncPersistedState() takes an options object');
  const { store, persistConfig, payload: payloadMode = 'changed', delay = 10 } = options;
  if (typeof store !== 'object' || store === null || typeof store.dispatch !== 'function') {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): "store" must be a redux store (with dispatch)');
  }
  if (typeof persistConfig !== 'object' || persistConfig === null || typeof persistConfig.key !== 'string' || persistConfig.key === '') {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): "persistConfig" must be the persistReducer config (with a key)');
  }
  const engine = engineOf(options.storage ?? persistConfig.storage);
  if (!engine) {
    throw new FeatValidationError(
      'invalid_argument',
      'syncPersistedState(): "storage" (or persistConfig.storage) must be a storage made by createPersistStorage()',
    );
  }
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): "delay" must be a number of milliseconds ≥ 0');
  }
  if (payloadMode !== 'changed' && payloadMode !== 'all') {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): "payload" must be "changed" or "all"');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): "onError" must be a function');
  }
  const deserialize = persistConfig.deserialize;
  if (deserialize === false || (deserialize !== undefined && typeof deserialize !== 'function')) {
    throw new FeatValidationError('invalid_argument', 'syncPersistedState(): the persisted state must be serialized (deserialize: false is not supported)');
  }
  const storageKey = (persistConfig.keyPrefix ?? PERSIST_PREFIX) + persistConfig.key;
  if (!storageKey.startsWith(PERSIST_PREFIX)) {
    throw new FeatValidationError('invalid_argument', `syncPersistedState(): keyPrefix must start with "${PERSIST_PREFIX}" to store slices`);
  }
  // redux-persist: `timeout` undefined → 5000; any other falsy value disables it.
  const timeout = persistConfig.timeout === undefined ? DEFAULT_REHYDRATE_TIMEOUT_MS : persistConfig.timeout || 0;
  if (timeout !== engine.timeout) {
    throw new FeatValidationError(
      'invalid_argument',
      `syncPersistedState(): persistConfig.timeout (${timeout} ms) differs from the storage's (${engine.timeout} ms); ` +
        `create the storage with the same timeout: createPersistStorage(store, { timeout: ${timeout} }), or a stale rehydrate could be written over the stored state`,
    );
  }
  const parse = deserialize ?? ((s: string) => JSON.parse(s) as unknown);
  const transforms = persistConfig.transforms ?? [];
  const whitelist = persistConfig.whitelist;
  const blacklist = persistConfig.blacklist;
  // `_persist` is never dispatched nor adopted: it is redux-persist's own (its reconcilers ignore it), and this device's
  // version stays its own. The engine is told what is stored (see docs/redux.md, "Versions").
  const allowed = (slice: string) =>
    slice !== '_persist' && (!whitelist || whitelist.includes(slice)) && (!blacklist || !blacklist.includes(slice));
  const report =
    options.onError ??
    ((error: unknown) => console.warn(`[@feat/sdk/redux] could not apply a change of "${storageKey}" from another device:`, error));

  let stopped = false;
  const dirty = new Map<string, Dirty>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  /** The next try of a `setItem` decision that failed again (see apply), and the failures so far. */
  let again: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;

  const schedule = () => {
    if (timer !== undefined || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = running.then(apply).catch(report);
    }, delay);
  };

  const mark = (slice: string, value: string | undefined, read = false) => {
    if (!allowed(slice)) return;
    // A write of this device in flight already counts in `writes()`: the change may be older than it (the write lands
    // over it), so what is stored once it settled decides.
    dirty.set(slice, { value, seq: engine.writes(storageKey, slice), read: read || engine.isWriting(storageKey, slice) });
    schedule();
  };

  const docKey = engine.docKey(storageKey);
  const persisted = engine.watchPersist(storageKey);
  // `initial`: what is stored when the watch starts comes first (events marked `current`), so a change made by another
  // device between this device's rehydrating read and the watch's start is applied too (without it, it was missed).
  const unwatch = engine.store.watch(
    docKey,
    (event: ChangeEvent) => {
      if (event.key !== docKey || event.subkey === undefined) return;
      const slice = event.subkey;
      if (slice === '_persist') {
        if (event.origin !== 'remote' && !event.current) return;
        if (event.value !== undefined || event.kind === 'delete') persisted.seen(event.value === undefined ? undefined : valueToSlice(event.value));
        else engine.readSlice(storageKey, slice).then(persisted.seen, report);
        return;
      }
      if (event.origin !== 'remote' && !event.current) {
        // This device's own write, landed. Its event may come after another device's older change that was applied
        // meanwhile (this write had resolved before either event came): then the state holds that older value, and
        // this write's value, which is stored, is applied again. Only the value of the slice's last write counts (an
        // earlier one is followed by the later one's event); a write in flight reports itself later; deletions stay.
        // A slice whose write failed (its base unknown) is written again, not applied.
        if (event.value === undefined || !allowed(slice) || engine.isWriting(storageKey, slice) || engine.base(storageKey, slice) === undefined) return;
        const value = valueToSlice(event.value);
        // Nothing else applied since, nor waiting to be (the state holds this value): nothing to do, and no read-back.
        const settled = engine.base(storageKey, slice) === value && !dirty.has(slice);
        if (value === engine.lastWritten(storageKey, slice) && !settled) mark(slice, value);
        return;
      }
      // A change without its value (not a delete): read what is stored. So too for a current value of a slice this
      // device has written: it may be that write, read while in flight and since resolved to another device's version.
      const read = (event.value === undefined && event.kind !== 'delete') || (event.current === true && engine.writes(storageKey, slice) > 0);
      mark(slice, event.value === undefined ? undefined : valueToSlice(event.value), read);
    },
    { initial: true, onError: (error) => error.code !== 'closed' && report(error) },
  );
  // A rehydrate given up: the state right after redux-persist's REHYDRATE is its initial state; the engine writes the
  // slices of its first setItem that differ from it (edits), and keeps the stored ones for the rest.
  let unsubscribe: (() => void) | undefined;
  if (typeof store.getState === 'function' && typeof store.subscribe === 'function') {
    const serialize = typeof persistConfig.serialize === 'function' ? persistConfig.serialize : JSON.stringify;
    const capture = () => {
      if (stopped || !engine.wantsInitial(storageKey)) return;
      const state = store.getState!() as Record<string, unknown> | null;
      if (typeof state !== 'object' || state === null || (state._persist as { rehydrated?: unknown } | undefined)?.rehydrated !== true) return;
      const slices = new Map<string, string | undefined>();
      const serialized = (slice: string) => {
        const end = transforms.reduce((sub: unknown, t) => (t.in ? t.in(sub, slice, state) : sub), state[slice]);
        return end === undefined ? undefined : serialize(end);
      };
      try {
        for (const slice of Object.keys(state)) {
          if (slice !== '_persist' && !allowed(slice)) continue;
          const once = serialized(slice);
          // A transform that is not deterministic (encryption with a random IV): that slice is not known.
          if (once !== undefined) slices.set(slice, serialized(slice) === once ? once : undefined);
        }
      } catch (error) {
        report(error);
        return;
      }
      engine.setInitial(storageKey, slices);
    };
    // Recorded when a read is given up too: the app's own getItem on a running store gives it up with no REHYDRATE
    // after it, and the user's next edit must not be taken as the state redux-persist started from.
    const unsubscribed = [store.subscribe(capture), engine.onGiveUp(storageKey, capture)];
    unsubscribe = () => unsubscribed.forEach((stop) => typeof stop === 'function' && (stop as () => void)());
    capture();
  }
  // Stored slices this device did not rehydrate from (its rehydrate timed out): applied like another device's changes.
  const unadopt = engine.onAdopt(storageKey, (slices) => {
    for (const [slice, value] of slices) mark(slice, value);
  });
  // redux-persist ignores every REHYDRATE after `persistor.purge()`, until the app reloads: this store cannot follow
  // other devices any more. The engine writes none of the stale slices over the stored ones; the app is told (once).
  let warned = false;
  const unignored = engine.onIgnored(storageKey, (slices) => {
    if (warned || stopped) return;
    warned = true;
    report(
      new FeatError(
        'conflict',
        `redux-persist ignored the REHYDRATE of ${slices.map((s) => JSON.stringify(s)).join(', ')} of "${storageKey}" that another device (or tab) ` +
          'changed: it ignores every REHYDRATE after persistor.purge() until the app reloads. The stored values are kept (this ' +
          'state does not write its older ones over them); reload the app (or create the store again) after a purge to follow other devices again.',
        { key: storageKey },
      ),
    );
  });

  async function apply(): Promise<void> {
    // redux-persist's write after its rehydrate (the state it started from) whose decision failed — the server out of
    // reach when the app started — is decided again: a change came (the store answers). Without it this key would
    // never be established, and the stored state never applied until the user's next edit.
    try {
      await engine!.decideAgain(storageKey);
      failures = 0;
    } catch (error) {
      // A closed client, a refused session: trying again would not help (the app's next call tells it).
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'closed' || code === 'forbidden' || code === 'unauthorized') {
        if (code !== 'closed') report(error);
        return;
      }
      if (!stopped && again === undefined) {
        again = setTimeout(() => {
          again = undefined;
          running = running.then(apply).catch(report);
        }, backoff(failures++));
      }
      return;
    }
    // Nothing is applied before redux-persist has loaded (or written) this key: its own REHYDRATE comes first.
    await engine!.whenEstablished(storageKey);
    await engine!.idle(storageKey);
    // (Again: a read given up meanwhile makes the next setItem establish it anew.)
    await engine!.whenEstablished(storageKey);
    if (stopped || dirty.size === 0) return;
    const batch = [...dirty];
    dirty.clear();
    const resolved = new Map<string, Dirty>();
    for (const [slice, entry] of batch) {
      if (entry.read || engine!.isWriting(storageKey, slice) || engine!.writes(storageKey, slice) !== entry.seq) {
        // This device wrote the slice too: once its write settled (conflicts resolved), what is stored decides.
        await engine!.settled(storageKey, slice);
        const seq = engine!.writes(storageKey, slice);
        resolved.set(slice, { value: await engine!.readSlice(storageKey, slice), seq, read: true });
      } else {
        resolved.set(slice, entry);
      }
    }
    if (stopped) return;
    const changed = new Map<string, string>();
    for (const [slice, entry] of resolved) {
      // A slice deleted elsewhere stays in this device's state (see docs/redux.md).
      if (entry.value === undefined) continue;
      if (engine!.isWriting(storageKey, slice) || engine!.writes(storageKey, slice) !== entry.seq) {
        // Changed here meanwhile: look again once that write settled.
        dirty.set(slice, { value: undefined, seq: entry.seq, read: true });
        schedule();
        continue;
      }
      if (engine!.base(storageKey, slice) === entry.value) continue;
      changed.set(slice, entry.value);
    }
    if (changed.size === 0) return;
    const strings = payloadMode === 'all' ? new Map([...engine!.known(storageKey), ...changed]) : changed;
    strings.delete('_persist');
    const rawState: Record<string, string> = {};
    for (const [slice, value] of strings) define(rawState, slice, value);
    const payload: Record<string, unknown> = {};
    for (const [slice, value] of strings) {
      let state: unknown;
      try {
        state = transforms.reduceRight((sub: unknown, transform) => transform.out(sub, slice, rawState), parse(value));
      } catch (error) {
        report(error);
        continue;
      }
      define(payload, slice, state);
      const value2 = changed.get(slice);
      if (value2 !== undefined) engine!.adopted(storageKey, slice, value2);
    }
    if (Object.keys(payload).length === 0) return;
    store.dispatch({ type: REHYDRATE, key: persistConfig.key, payload, err: undefined });
  }

  return () => {
    if (stopped) return;
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    if (again !== undefined) clearTimeout(again);
    timer = again = undefined;
    dirty.clear();
    unwatch();
    persisted.stop();
    unsubscribe?.();
    unadopt();
    unignored();
  };
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
