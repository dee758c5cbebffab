import type { FeatStore } from '../client.js';
import type { SetOptions } from '../store/store.js';
import { FeatError, FeatValidationError, isFeatError } from '../errors.js';
import { composeOuter, parseOuter, sliceToValue, valueToSlice, wellFormed } from './codec.js';
import { escapeSubkey, partId } from '../store/ids.js';
import { validateSubkey } from '../store/validate.js';

/** What the engine needs of `client.store`. */
export type PersistBackingStore = Pick<FeatStore, 'get' | 'set' | 'remove' | 'getItem' | 'setItem' | 'removeItem' | 'getParts' | 'watch' | 'flush'>;

/** A redux-persist `Storage` (structurally compatible with redux-persist 6's `Storage` and `WebStorage`). */
export interface FeatPersistStorage {
  /** `persist:<key>`: the serialized state, composed from the stored slices; `null` when nothing is stored. */
  getItem(key: string): Promise<string | null>;
  /** `persist:<key>`: writes only the slices that this device changed since it loaded them; other keys: a plain string. */
  setItem(key: string, value: string): Promise<void>;
  /** `persist:<key>`: deletes every slice (redux-persist's `purge`). */
  removeItem(key: string): Promise<void>;
  /** Resolves when every write the engine started so far is durable (local replica, or server in remote mode). */
  flush(): Promise<void>;
}

/** Options of {@link createPersistStorage}. */
export interface PersistStorageOptions {
  /**
   * redux-persist's `timeout` for the keys persisted through this storage: the same number as `persistConfig.timeout`
   * (`0` when the timeout is disabled). The read that rehydrates a key is given up {@link TIMEOUT_MARGIN_MS} before
   * redux-persist would give up: `getItem` rejects with `timeout`, redux-persist starts from the initial state, and the
   * engine knows that state was not derived from storage, so it never writes it over the stored slices.
   * @default 5000 (redux-persist's default)
   */
  timeout?: number | undefined;
}

/** @see PersistStorageOptions.timeout */
export const DEFAULT_REHYDRATE_TIMEOUT_MS = 5000;

/** The engine gives up the rehydrating read this long before redux-persist's own timer (registered just before) fires. */
export const TIMEOUT_MARGIN_MS = 5;

/** Only the engine's prefix is stored slice by slice; other keys use the store's plain string API. */
export const PERSIST_PREFIX = 'persist:';

/** Hidden link from a storage to its engine (used by `syncPersistedState`). */
export const ENGINE: unique symbol = Symbol.for('@feat/sdk/redux.engine');

/** The store's hidden completeness probe (store.ts `COMPLETE`; a global symbol, so no import of the store). */
const COMPLETE = Symbol.for('@feat/sdk.complete');


/**
 * The store's hidden `[DECIDING](decide)` and write option (store.ts `DECIDING`): a `setItem`/`removeItem` called before
 * `client.close()` writes what it decides (later, in call order) even once the close started, and the close waits.
 */
const DECIDING = Symbol.for('@feat/sdk.deciding');
const DECIDED = { [DECIDING]: true } as SetOptions;
/**
 * A default value (a slice's initial state): stamped with the time 0 through the store's hidden `set()` option (store.ts
 * `AS_OF`), so any version another device stored wins over it, and a deletion does not (resolve-write.ts `decide`).
 */
const AS_DEFAULT = { ...DECIDED, [Symbol.for('@feat/sdk.asOf')]: 0 } as SetOptions;
const remove = (store: PersistBackingStore, id: string) => (store.remove as (key: string, options: object) => Promise<void>).call(store, id, DECIDED);
function deciding<T>(store: PersistBackingStore, decide: () => Promise<T>): Promise<T> {
  const run = (store as { [DECIDING]?: (decide: () => Promise<T>) => Promise<T> })[DECIDING];
  return run ? run.call(store, decide) : decide();
}

/**
 * Without a watch (`syncPersistedState`) reporting the stored `_persist`, the engine reads it again before writing when
 * it last read it longer ago than this (ms): one small read at most per this period of writing.
 */
export const PERSIST_RECHECK_MS = 5000;

/** A slice whose last write failed: it is written again by the next `setItem`, whatever its value. */
const DIRTY = Symbol('dirty');
type Base = Map<string, string | typeof DIRTY>;

interface Stored {
  slices: Map<string, string>;
  /**
   * A whole-string document of a plain string engine that is not redux-persist's default serialization (a custom
   * serializer's, or damaged), when no slices are stored: answered as it is, so that the app's deserialize reads it or
   * redux-persist reports the error (never "nothing stored").
   */
  raw?: string | undefined;
  order: string[];
  /** When the read started (ms): what it found is known as of then (the stored `_persist`, see `persistSeen`). */
  at: number;
}

/** Per `persist:<key>` bookkeeping. */
interface KeyState {
  /** The store key whose parts are the slices: `persist:<escaped name>` (escaped as a subkey: `escapeSubkey`). */
  doc: string;
  /** A whole-string document left by a plain string engine may sit at the key itself (its name has no `:`). */
  legacy: boolean;
  /**
   * The slice strings this device's redux state is derived from (what it loaded, wrote, or was rehydrated with).
   * A slice is written only when its new string differs from this. `undefined` until known.
   */
  base: Base | undefined;
  /**
   * `setItem` was called before any `getItem` had been answered (redux-persist did not rehydrate from storage), or the
   * rehydrating read failed or timed out, or `removeItem` was called first: a later answer is not what the redux state
   * derives from.
   */
  unloaded: boolean;
  /** The one read in flight (shared by `getItem` and the first unloaded `setItem`). */
  loading: Promise<Stored> | undefined;
  /** Serializes `getItem` reads and `setItem`/`removeItem` decisions, in call order (not the writes themselves). */
  chain: Promise<unknown>;
  /** Slice order as last seen, so `getItem` answers in redux-persist's own order. */
  order: string[];
  /** Writes in flight per slice, and a counter bumped whenever one starts. */
  writing: Map<string, Promise<unknown>>;
  seq: Map<string, number>;
  /** Resolved once `base` is known. */
  established: Promise<void>;
  establish: () => void;
  /** Listeners told about stored slices the device did not rehydrate from (its rehydrate timed out or failed). */
  adoptListeners: Set<(slices: Map<string, string>) => void>;
  /** Slices stored but not in this device's redux state, recorded for a `syncPersistedState` attached later. */
  unapplied: Map<string, string> | undefined;
  /** Slices whose last write failed, with the value (`undefined`: a removal) it was writing: `flush()` sends them again. */
  failed: Map<string, string | undefined>;
  /** Those of {@link failed} that were defaults (the reducer's initial state): sent again as defaults. */
  failedDefaults: Set<string>;
  /** The value (`undefined`: a removal) of the last write started per slice. */
  written: Map<string, string | undefined>;
  /** `setItem` calls so far, and the slice strings of the last one (what the redux state held then). */
  calls: number;
  lastCalled: Map<string, string> | undefined;
  /**
   * `removeItem` was called (redux-persist's `purge`): from then on redux-persist may ignore REHYDRATEs (it does after a
   * purge, until the app reloads), so a slice `syncPersistedState` dispatched is taken as the state's only once a later
   * `setItem` shows it. See {@link Adopting}.
   */
  removed: boolean;
  /**
   * After a `removeItem`: the slice strings this device's state held before it (as far as the engine knew). The first
   * write after it writes the slices it did not change since as defaults: over the removal they are stored again (the
   * purged tab's state written back), and another device's edit made meanwhile wins over them.
   */
  purged: Map<string, string> | undefined;
  adopting: Map<string, Adopting>;
  /** Told the slices whose REHYDRATE redux-persist ignored. */
  ignoredListeners: Set<(slices: string[]) => void>;
  /** Told when a read is given up (`syncPersistedState` then records the state as it is: see `initial`). */
  givenUpListeners: Set<() => void>;
  /** The stored `_persist` string as last known (`undefined`: absent), when it was read, and the watches reporting it. */
  persist: string | undefined;
  persistAt: number;
  watched: number;
  /** The stored `_persist` was seen removed (by another device) after it was seen stored. */
  gone: boolean;
  /** The stored state's version when this device loaded it (a rollback deploy starts below it: not refused). */
  loadedVersion: number;
  /** The last `setItem` was refused (a newer version stored since): `flush()` rejects with it until one is written. */
  refusal: FeatError | undefined;
  /**
   * After a `removeItem` (called; its decision may not have run yet): the slices this device stored since, as its calls
   * tell (those of the last `setItem` called after it; none: empty). A read called then whose timeout passes answers
   * this (see `#bounded`).
   */
  since: Map<string, string> | undefined;
  /** `removeItem` calls so far. */
  removals: number;
  /**
   * A read after a `removeItem` answered with `since` when its timeout passed: redux-persist rehydrated from it, so in
   * the first `setItem` called after (`after`: the calls made before), the slices it lacked (not in `known`) hold the
   * reducer's initial state: written as defaults. `removal`: the `removeItem` it followed (a later one drops it).
   */
  answered: { after: number; known: Set<string>; removal: number } | undefined;
  /**
   * After a rehydrate given up: the slice strings of the redux state right after redux-persist applied its REHYDRATE
   * (its initial state), from `syncPersistedState` (`undefined`: not known). A slice of the first `setItem` that differs
   * was edited since.
   */
  initial: Map<string, string | undefined> | undefined;
  /** A later rehydrating read was given up: `base` is dropped before the first `setItem` called after this many. */
  resetAfter: number | undefined;
  /**
   * The first `setItem` whose decision failed before anything was known of what is stored (the read it needs could not
   * be made: the server out of reach), kept until the key is established: nothing of it was written. It carries the
   * state redux-persist started from, so it is decided first, before any later call (whose slices may hold edits made
   * since): see `#decide`.
   */
  undecided: { slices: Map<string, string>; call: number } | undefined;
  /** The last call whose decision failed (`flush()` and `syncPersistedState` decide it again: `decideAgain`). */
  failedCall: number;
}

/** A slice dispatched by `syncPersistedState` after a `removeItem`, not yet seen in the redux state. */
interface Adopting {
  /** The dispatched slice string. */
  value: string;
  /** The string the redux state held before (`undefined`: it had no such slice). */
  prior: string | undefined;
  /** `setItem` calls made before the dispatch: those carry the state from before it. */
  call: number;
}

/** The engine behind a {@link FeatPersistStorage}; `syncPersistedState` reaches it through {@link ENGINE}. */
export class PersistEngine {
  readonly store: PersistBackingStore;
  #keys = new Map<string, KeyState>();
  #pending = new Set<Promise<unknown>>();
  /** Plain keys (not `persist:…`) whose last write failed, with what it wrote (`undefined`: a removal): flush() sends them again. */
  #plainFailed = new Map<string, string | undefined>();
  /** Per plain key, its last write (a number in call order). */
  #plainLast = new Map<string, number>();
  #plainCalls = 0;

  /** redux-persist's timeout in ms (`0`: none). */
  readonly timeout: number;

  constructor(store: PersistBackingStore, timeout: number) {
    this.store = store;
    this.timeout = timeout;
  }

  state(key: string): KeyState {
    let st = this.#keys.get(key);
    if (!st) {
      let establish!: () => void;
      const established = new Promise<void>((resolve) => (establish = resolve));
      const name = key.slice(PERSIST_PREFIX.length);
      st = {
        doc: PERSIST_PREFIX + escapeSubkey(name),
        legacy: !name.includes(':'),
        base: undefined,
        unloaded: false,
        loading: undefined,
        chain: Promise.resolve(),
        order: [],
        writing: new Map(),
        seq: new Map(),
        established,
        establish,
        adoptListeners: new Set(),
        unapplied: undefined,
        failed: new Map(),
        failedDefaults: new Set(),
        written: new Map(),
        calls: 0,
        lastCalled: undefined,
        removed: false,
        purged: undefined,
        adopting: new Map(),
        ignoredListeners: new Set(),
        givenUpListeners: new Set(),
        persist: undefined,
        persistAt: 0,
        watched: 0,
        gone: false,
        since: undefined,
        removals: 0,
        answered: undefined,
        loadedVersion: -Infinity,
        refusal: undefined,
        initial: undefined,
        resetAfter: undefined,
        undecided: undefined,
        failedCall: 0,
      };
      this.#keys.set(key, st);
    }
    return st;
  }

  getItem(key: string): Promise<string | null> {
    if (!key.startsWith(PERSIST_PREFIX)) return this.store.getItem(key);
    const st = this.state(key);
    // Any read may be redux-persist's rehydrate (a first one, or a store built again on this storage after an early
    // getStoredState or after a purge): bounded by its timeout (see below). After a removeItem, what this device stored
    // since is known (`since`): that is the answer when the read takes too long.
    const rehydrating = this.timeout > 0;
    const known = st.since && { slices: st.since, removal: st.removals };
    // In call order: after every setItem/removeItem called before, and after the writes they started.
    const step = st.chain.then(async () => {
      await Promise.allSettled([...st.writing.values()]);
      let stored: Stored;
      try {
        stored = await this.#load(key, st);
      } catch (error) {
        // redux-persist rehydrates from nothing after a failed read: a later answer is not what its state derives from.
        if (st.base === undefined) st.unloaded = true;
        throw error;
      }
      // Only a load answered in time, before any write, tells what redux-persist rehydrated from — and only from a
      // complete copy: a new device's replica before its first complete pull may lack slices the server has.
      if (st.base === undefined && !st.unloaded && !(await this.#complete())) st.unloaded = true;
      if (st.base === undefined && !st.unloaded) {
        st.base = new Map(stored.slices);
        st.order = stored.order;
        this.#sawPersist(st, stored);
        st.establish();
      }
      if (stored.slices.size === 0) return stored.raw ?? null;
      return composeOuter(stored.slices, st.order.length > 0 ? st.order : stored.order);
    });
    st.chain = step.catch(() => undefined);
    return rehydrating ? this.#bounded(key, st, step, known) : step;
  }

  /**
   * redux-persist starts its timeout timer right before it calls `getItem`, and ignores an answer that comes after the
   * timer fired: its state is then the initial state, and writing it would clobber the stored one. This timer is shorter
   * and started after, so it always fires first: when the answer comes before it, redux-persist uses the answer (the
   * rest of its rehydrate runs in microtasks, before any timer); otherwise `getItem` rejects, redux-persist rehydrates
   * with that error, and the key is marked unloaded (never clobber: see `#apply`).
   *
   * A read called after a `removeItem` (`known`: what this device stored since) answers that instead of rejecting (the
   * purge's reset path keeps its call order whatever the timeout): the state redux-persist rehydrates from it holds the
   * reducer's initial state in every slice it lacks, and the next `setItem` writes those as defaults (`answered`), so
   * another device's version stored since the purge wins over them.
   */
  #bounded(
    key: string,
    st: KeyState,
    step: Promise<string | null>,
    known: { slices: Map<string, string>; removal: number } | undefined,
  ): Promise<string | null> {
    return new Promise((resolve, reject) => {
      let late = false;
      const giveUp = () => {
        late = true;
        if (known) {
          st.answered = { after: st.calls, known: new Set(known.slices.keys()), removal: known.removal };
          resolve(known.slices.size === 0 ? null : composeOuter(known.slices, [...known.slices.keys()]));
          return;
        }
        // redux-persist starts from the initial state: what the engine knew the state held no longer holds for the
        // setItem calls from now on (those called before carry the state derived from it).
        if (st.base !== undefined) st.resetAfter = st.calls;
        st.initial = undefined;
        st.unloaded = true;
        // The state now is what redux-persist starts from (a running store's, when the read was the app's own).
        for (const listener of st.givenUpListeners) listener();
        reject(
          new FeatError(
            'timeout',
            `Reading "${key}" took longer than the rehydrate timeout (${this.timeout} ms): redux-persist starts from the initial state; ` +
              'the stored state is kept, and syncPersistedState applies it when it arrives. Give createPersistStorage the same "timeout" as persistConfig.',
            { key },
          ),
        );
      };
      const wait = this.timeout - TIMEOUT_MARGIN_MS;
      const timer = wait > 0 ? setTimeout(giveUp, wait) : undefined;
      if (timer === undefined) giveUp();
      step.then(
        (value) => {
          if (late) return;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (late) return;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  setItem(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') {
      return Promise.reject(
        new FeatValidationError('invalid_value', `setItem("${String(key)}") takes a string (keep redux-persist's default serialize)`, {
          ...(typeof key === 'string' ? { key } : {}),
        }),
      );
    }
    if (!key.startsWith(PERSIST_PREFIX)) return this.#plain(key, value);
    const slices = parseOuter(value);
    if (!slices) {
      return Promise.reject(
        new FeatValidationError(
          'invalid_value',
          `setItem("${key}") expects redux-persist's serialized state (a JSON object of slice strings); keep the default serialize`,
          { key },
        ),
      );
    }
    const st = this.state(key);
    for (const slice of slices.keys()) {
      if (slice === '' || !wellFormed(slice)) {
        const name = slice === '' ? 'an empty slice name ("")' : `the slice name ${JSON.stringify(slice)} (a lone surrogate)`;
        return Promise.reject(new FeatValidationError('invalid_key', `The persisted state "${key}" has ${name}, which cannot be stored: rename that reducer key`, { key }));
      }
      // Its document id passes the store's rules (no NUL, within 3,000 bytes) before anything is written.
      try {
        validateSubkey(st.doc, slice);
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    if (st.base === undefined) st.unloaded = true;
    const call = ++st.calls;
    st.lastCalled = slices;
    if (st.since) st.since = slices;
    return this.#track(this.#decide(key, st, slices, call)).catch(afterClose('setItem', key));
  }

  /**
   * Decides a `setItem` in call order and resolves once the writes it started are done. While the key is not
   * established, an earlier call whose decision failed (`undecided`: the state redux-persist started from) is decided
   * first, so that what this call changed since is told from it — an edit made while the server was out of reach is
   * written, not taken for the initial state.
   */
  #decide(key: string, st: KeyState, slices: Map<string, string>, call: number): Promise<void> {
    const step = deciding(this.store, () =>
      st.chain.then(async () => {
        const first = st.base === undefined ? st.undecided : undefined;
        const before = first && first.call < call ? await this.#apply(key, st, first.slices, first.call) : undefined;
        const writes = await this.#apply(key, st, slices, call);
        return before ? { done: Promise.all([before.done, writes.done]).then(() => undefined) } : writes;
      }),
    );
    st.chain = step.catch(() => undefined);
    step.then(
      () => {
        if (st.base !== undefined) st.undecided = undefined;
      },
      () => {
        // Nothing known of what is stored, nothing written: decided again later.
        if (st.base !== undefined) return;
        st.undecided ??= { slices, call };
        st.failedCall = Math.max(st.failedCall, call);
      },
    );
    // The decision is serialized; the writes it starts run (and are awaited) outside the chain.
    return step.then((writes) => writes.done);
  }

  /**
   * Decides again the last `setItem` of `key` when its decision failed with nothing known of what is stored (see
   * `undecided`): resolves once its writes are done (at once when there is none), rejects with its failure.
   */
  decideAgain(key: string): Promise<void> {
    const st = this.state(key);
    if (!st.undecided || st.base !== undefined || st.failedCall !== st.calls || !st.lastCalled) return Promise.resolve();
    return this.#track(this.#decide(key, st, st.lastCalled, st.calls));
  }

  removeItem(key: string): Promise<void> {
    if (!key.startsWith(PERSIST_PREFIX)) return this.#plain(key, undefined);
    const st = this.state(key);
    // What is stored is known from here on (nothing, then this device's writes): a later read's answer is not a base to
    // take, and a read taking too long answers that (see `#bounded`).
    if (st.base === undefined) st.unloaded = true;
    st.removed = true;
    st.since = new Map();
    const removal = ++st.removals;
    const step = deciding(this.store, () => st.chain.then(async () => {
      const prior = new Map<string, string>();
      for (const [slice, value] of st.base ?? []) if (typeof value === 'string') prior.set(slice, value);
      st.purged = prior;
      st.base = new Map();
      persistSeen(st, undefined, Date.now(), false);
      st.unloaded = false;
      // The reset path: a setItem after this is the state that replaces the stored one, whatever read was given up or
      // answered before this removeItem.
      st.resetAfter = st.initial = undefined;
      if (st.answered && st.answered.removal < removal) st.answered = undefined;
      st.unapplied = st.undecided = undefined;
      st.failed.clear();
      st.failedDefaults.clear();
      st.establish();
      const stored = await this.#readStored(key);
      const removals = [...stored.slices.keys()].map((slice) => this.#write(key, st, slice, undefined));
      await Promise.all(st.legacy ? [...removals, remove(this.store, key)] : removals);
    }));
    st.chain = step.catch(() => undefined);
    return this.#track(step).catch(afterClose('removeItem', key));
  }

  /**
   * Waits for every write started before the call (not those the app makes meanwhile: a flush under steady writes
   * settles); a slice whose last write failed (and that no later write replaced) is sent again once, and if it fails
   * again the flush rejects with that failure: it never reports a state durable that is not. Asked before `close()`,
   * it settles as those writes do (close() waits for them); asked after, it rejects `closed`.
   */
  async flush(): Promise<void> {
    // (Called now: it rejects `closed` at once on a client closed before this call.)
    const before = this.store.flush().then(
      () => undefined,
      (error: unknown) => error,
    );
    await Promise.allSettled([...this.#pending]);
    const early = await before;
    if (isFeatError(early, 'closed')) throw early;
    for (const st of this.#keys.values()) if (st.refusal) throw st.refusal;
    const again: Promise<void>[] = [];
    // (Not a slice or key with a newer write on its way since: that one is the latest, and an older value sent after
    // it would replace it.)
    for (const key of this.#keys.keys()) again.push(this.decideAgain(key));
    for (const [key, st] of this.#keys) {
      // `_persist` first, as #apply sends it (in the same batch).
      const failed = [...st.failed].filter(([slice]) => !st.writing.has(slice)).sort(([x], [y]) => Number(y === '_persist') - Number(x === '_persist'));
      for (const [slice, value] of failed) again.push(this.#track(this.#write(key, st, slice, value, st.failedDefaults.has(slice))));
    }
    for (const [key, value] of this.#plainFailed) again.push(this.#plain(key, value));
    const failure = (await Promise.allSettled(again)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    // What the store still has on its way; a close() begun since waits for it itself.
    await this.store.flush().catch((error: unknown) => {
      if (!isFeatError(error, 'closed')) throw error;
    });
  }

  /** Stored value of one slice as a slice string (`undefined`: absent). Sees this device's own pending writes. */
  async readSlice(key: string, slice: string): Promise<string | undefined> {
    const value = await this.store.get(this.sliceId(key, slice));
    return value === undefined ? undefined : valueToSlice(value);
  }

  /** The store key whose parts hold the slices of `key`. */
  docKey(key: string): string {
    return this.state(key).doc;
  }

  /** The document id of one slice. */
  sliceId(key: string, slice: string): string {
    return partId(this.state(key).doc, slice);
  }

  /** Resolves when no write of `slice` is in flight. */
  async settled(key: string, slice: string): Promise<void> {
    const st = this.state(key);
    for (let w = st.writing.get(slice); w; w = st.writing.get(slice)) await w.catch(() => undefined);
  }

  /** Waits for every `setItem`/`removeItem` decision queued so far. */
  idle(key: string): Promise<void> {
    return this.state(key).chain.then(() => undefined);
  }

  onAdopt(key: string, listener: (slices: Map<string, string>) => void): () => void {
    const st = this.state(key);
    st.adoptListeners.add(listener);
    if (st.unapplied && st.unapplied.size > 0) listener(new Map(st.unapplied));
    return () => st.adoptListeners.delete(listener);
  }

  /** The slice string this device's redux state holds as far as the engine knows (`undefined`: unknown or dirty). */
  base(key: string, slice: string): string | undefined {
    const value = this.state(key).base?.get(slice);
    return typeof value === 'string' ? value : undefined;
  }

  /** Every slice string the engine knows this device's redux state holds. */
  known(key: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [slice, value] of this.state(key).base ?? []) if (typeof value === 'string') out.set(slice, value);
    return out;
  }

  /** True once the engine knows what the redux state of `key` was derived from. */
  whenEstablished(key: string): Promise<void> {
    return this.state(key).established;
  }

  /** Counter of writes started for `slice` (a write since a remote change means the device changed it too). */
  writes(key: string, slice: string): number {
    return this.state(key).seq.get(slice) ?? 0;
  }

  isWriting(key: string, slice: string): boolean {
    return this.state(key).writing.has(slice);
  }

  /**
   * Records that the redux state now holds `slice` as `value` (called right before `syncPersistedState` dispatches it as
   * a REHYDRATE). After a `removeItem` (redux-persist's `purge`, after which redux-persist ignores every REHYDRATE until
   * the app reloads) that is checked: a later `setItem` still carrying the slice's earlier string shows the REHYDRATE was
   * ignored; the slice is then not written (the stored one is newer) and the `onIgnored` listeners are told.
   */
  adopted(key: string, slice: string, value: string): void {
    const st = this.state(key);
    if (st.removed) {
      const before = st.base?.get(slice);
      const prior = st.lastCalled ? st.lastCalled.get(slice) : typeof before === 'string' ? before : undefined;
      if (prior !== value) st.adopting.set(slice, { value, prior, call: st.calls });
    }
    st.base?.set(slice, value);
    st.unapplied?.delete(slice);
  }

  /** True while the engine would take the next `setItem` as redux-persist's initial state (its rehydrate was given up). */
  wantsInitial(key: string): boolean {
    const st = this.state(key);
    return (st.base === undefined || st.resetAfter !== undefined) && st.unloaded && !st.initial;
  }

  /** The slice strings of the redux state redux-persist started from after its rehydrate was given up (see `initial`). */
  setInitial(key: string, slices: Map<string, string | undefined>): void {
    this.state(key).initial = slices;
  }

  /** Listens for reads given up (their timeout passed). */
  onGiveUp(key: string, listener: () => void): () => void {
    const st = this.state(key);
    st.givenUpListeners.add(listener);
    return () => st.givenUpListeners.delete(listener);
  }

  /** Listens for slices whose REHYDRATE redux-persist ignored (see {@link adopted}). */
  onIgnored(key: string, listener: (slices: string[]) => void): () => void {
    const st = this.state(key);
    st.ignoredListeners.add(listener);
    return () => st.ignoredListeners.delete(listener);
  }

  /** The value (`undefined`: a removal or nothing) of this device's last write of `slice`. */
  lastWritten(key: string, slice: string): string | undefined {
    return this.state(key).written.get(slice);
  }

  /** Records the stored `_persist` a read found. */
  #sawPersist(st: KeyState, stored: Stored): void {
    const persist = stored.slices.get('_persist');
    persistSeen(st, persist, stored.at, false);
    st.loadedVersion = persist === undefined ? -Infinity : versionOf(persist);
  }

  /**
   * Keeps the engine told of the stored `_persist` (`syncPersistedState`'s watch): `watch()` while a watch reports it
   * (no re-read before writes then), `seen(value)` for each value it reports (`undefined`: deleted).
   */
  watchPersist(key: string): { seen: (value: string | undefined) => void; stop: () => void } {
    const st = this.state(key);
    st.watched++;
    let stopped = false;
    return {
      seen: (value) => persistSeen(st, value, Date.now()),
      stop: () => {
        if (!stopped) st.watched--;
        stopped = true;
      },
    };
  }

  /** Whether the store holds all the server has (the store's hidden `[COMPLETE]`; a store without it: yes). */
  #complete(): Promise<boolean> {
    const probe = (this.store as { [COMPLETE]?: () => Promise<boolean> })[COMPLETE];
    return probe ? probe.call(this.store).catch(() => false) : Promise.resolve(true);
  }

  /** A plain key's write (`undefined`: a removal), tracked; a failure stays for flush() until a later write of the key. */
  #plain(key: string, value: string | undefined): Promise<void> {
    const call = ++this.#plainCalls;
    this.#plainLast.set(key, call);
    // This write is the key's latest: what an earlier one failed to write is not sent again.
    this.#plainFailed.delete(key);
    const last = () => this.#plainLast.get(key) === call;
    const write = value === undefined ? this.store.removeItem(key) : this.store.setItem(key, value);
    return this.#track(
      write.then(
        () => {
          if (last()) this.#plainFailed.delete(key);
        },
        (error: unknown) => {
          if (last()) this.#plainFailed.set(key, value);
          throw error;
        },
      ),
    ).catch(afterClose(value === undefined ? 'removeItem' : 'setItem', key));
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  #load(key: string, st: KeyState): Promise<Stored> {
    if (!st.loading) {
      const loading = this.#readStored(key);
      st.loading = loading;
      const clear = () => {
        if (st.loading === loading) st.loading = undefined;
      };
      loading.then(clear, clear);
    }
    return st.loading;
  }

  /**
   * The stored slices: the parts of `persist:<escaped name>` (a subkey with a `:` belongs to no slice of this key), over a
   * whole-string document `persist:<name>` left by a plain string engine (e.g. `client.store` used directly as
   * redux-persist storage). Such a document is migrated to parts.
   */
  async #readStored(key: string): Promise<Stored> {
    const st = this.state(key);
    const at = Date.now();
    const [parts, whole] = await Promise.all([this.store.getParts(st.doc), st.legacy ? this.store.get(key) : undefined]);
    const slices = new Map<string, string>();
    const order: string[] = [];
    const legacy = typeof whole === 'string' ? parseOuter(whole) : undefined;
    for (const [slice, value] of legacy ?? []) {
      slices.set(slice, value);
      order.push(slice);
    }
    const own = new Set<string>();
    // The store's id rule keeps a nested key's documents (`persist:<name>%3A…`) apart: every part is a slice.
    for (const slice of Object.keys(parts)) {
      own.add(slice);
      if (!slices.has(slice)) order.push(slice);
      slices.set(slice, valueToSlice(parts[slice]));
    }
    // Parts come in id order; redux-persist writes `_persist` last.
    const last = order.indexOf('_persist');
    if (last !== -1) order.push(...order.splice(last, 1));
    if (legacy) {
      // One-time migration: the whole-string document becomes parts, then goes away.
      try {
        const missing = [...legacy].filter(([slice]) => !own.has(slice));
        await Promise.all(missing.map(([slice, value]) => this.store.set(this.sliceId(key, slice), sliceToValue(value))));
        await this.store.removeItem(key);
      } catch {
        // Migrated on a later load; reads merge both meanwhile.
      }
    }
    return { slices, order, at, raw: typeof whole === 'string' && !legacy && own.size === 0 ? whole : undefined };
  }

  async #apply(key: string, st: KeyState, next: Map<string, string>, call: number): Promise<{ done: Promise<void> }> {
    if (st.resetAfter !== undefined && call > st.resetAfter) {
      st.base = st.unapplied = st.resetAfter = undefined;
      // Known again once this call established it (syncPersistedState applies nothing meanwhile).
      st.established = new Promise<void>((resolve) => (st.establish = resolve));
    }
    // Slices that this call writes from the device's initial state (absent from what redux-persist rehydrated from, or
    // from storage after a rehydrate given up): written as defaults.
    const defaults = new Set<string>();
    if (st.base === undefined) {
      // Never clobber: redux-persist did not rehydrate from storage (timeout, error, or no getItem at all), so this state
      // is the device's initial state. Slices already stored are kept; this state becomes the device's base, and only
      // slices it changes from here on are written. Slices absent from storage are written (nothing to lose) — unless
      // the storage is a replica that may still lack them (its first pull not complete): then they are kept too.
      const stored = await this.#load(key, st);
      const complete = await this.#complete();
      if (st.base === undefined) {
        const base: Base = new Map();
        const unapplied = new Map<string, string>();
        // The state redux-persist started from, when known (same slices): a slice that differs is an edit, written.
        const initial = st.initial?.size === next.size && [...next.keys()].every((s) => st.initial!.has(s)) ? st.initial : undefined;
        st.initial = undefined;
        for (const [slice, value] of next) {
          const kept = stored.slices.get(slice);
          const from = initial?.get(slice);
          if (from !== undefined && from !== value) {
            base.set(slice, DIRTY);
            continue;
          }
          if (kept === undefined) {
            // Nothing stored to lose: written, as a default (the reducer's initial state, also after a purge), so a
            // version another device stores meanwhile wins over it.
            if (!complete) base.set(slice, value);
            else defaults.add(slice);
            continue;
          }
          base.set(slice, value);
          if (kept !== value) unapplied.set(slice, kept);
        }
        st.base = base;
        this.#sawPersist(st, stored);
        st.order = [...next.keys()];
        st.unapplied = unapplied;
        st.establish();
        if (unapplied.size > 0) for (const listener of st.adoptListeners) listener(new Map(unapplied));
      }
    }
    const answered = st.answered && call > st.answered.after ? st.answered : undefined;
    if (answered && st.base !== undefined) {
      // After a removeItem, redux-persist rehydrated from what this device stored since (a read that took too long,
      // see `#bounded`): every other slice holds the reducer's initial state, as after a rehydrate given up. What another
      // device stored since is kept (and applied by syncPersistedState); a slice absent is written as a default.
      st.answered = undefined;
      const stored = await this.#load(key, st);
      const complete = await this.#complete();
      persistSeen(st, stored.slices.get('_persist'), stored.at, false);
      const unapplied = new Map<string, string>();
      for (const [slice, value] of next) {
        if (answered.known.has(slice) || st.base.has(slice)) continue;
        const kept = stored.slices.get(slice);
        if (kept === undefined && complete) defaults.add(slice);
        else st.base.set(slice, value);
        if (kept !== undefined && kept !== value) unapplied.set(slice, kept);
      }
      if (unapplied.size > 0) {
        st.unapplied = new Map([...(st.unapplied ?? []), ...unapplied]);
        for (const listener of st.adoptListeners) listener(new Map(unapplied));
      }
    }
    const base = st.base;
    // Slices dispatched after a removeItem (see `adopted`): not written while the state may not hold them.
    const keep = new Set<string>();
    const ignored: string[] = [];
    for (const [slice, adopting] of st.adopting) {
      const value = next.get(slice);
      if (call <= adopting.call) {
        // Serialized before the REHYDRATE: the state from before it, not what it holds after.
        keep.add(slice);
        continue;
      }
      st.adopting.delete(slice);
      if (value !== adopting.prior || value === adopting.value) continue;
      // redux-persist ignored the REHYDRATE (it does after a purge): the state still holds its older value, the stored
      // one is newer. Not written (nor deleted); the state's value is the base, so only a change of it is written.
      keep.add(slice);
      ignored.push(slice);
      if (value === undefined) base.delete(slice);
      else base.set(slice, value);
    }
    if (ignored.length > 0) for (const listener of st.ignoredListeners) listener(ignored);
    // Stored `_persist` seen removed by another device (a purge) while the state holds one: written again with a change.
    const lost = st.gone && base.has('_persist');
    const changes: [string, string | undefined][] = [];
    for (const [slice, value] of next) {
      if (!keep.has(slice) && (base.get(slice) !== value || (lost && slice === '_persist'))) changes.push([slice, value]);
    }
    for (const slice of base.keys()) if (!next.has(slice) && !keep.has(slice)) changes.push([slice, undefined]);
    const mine = next.get('_persist');
    if (changes.length > 0 && mine !== undefined) {
      // Wall clock: a last read "in the future" means the clock went back by an unknown amount — read again now rather
      // than skip the re-check for that long (a jump forward costs one read at most).
      const sinceRead = Date.now() - st.persistAt;
      if (st.watched === 0 && (sinceRead > PERSIST_RECHECK_MS || sinceRead < 0)) {
        const at = Date.now();
        persistSeen(st, await this.readSlice(key, '_persist'), at);
        if (st.gone && base.has('_persist') && !changes.some(([slice]) => slice === '_persist')) changes.push(['_persist', mine]);
      }
      // Slices are stored only in the shape the stored `_persist.version` describes (docs/redux.md, "Versions"): not
      // while another device stored a newer version since this one loaded (a version it loaded, a rollback, is its own).
      const stored = st.persist === undefined ? -Infinity : versionOf(st.persist);
      st.refusal = undefined;
      if (stored > versionOf(mine) && stored > st.loadedVersion) {
        throw (st.refusal = new FeatError(
          'conflict',
          `"${key}" is stored by a newer version of the app (state version ${stored}, this app's ${versionOf(mine)}): ` +
            'nothing is written; reload the app to run the new version.',
          { key },
        ));
      }
    }
    // The first write after a removeItem: what it did not change since is written as a default (`purged`).
    const purged = st.purged;
    st.purged = undefined;
    // Decided now, for every slice (what another device's change applies meanwhile does not alter it); sent below.
    const plan = (slice: string, value: string | undefined): (() => Promise<void>) => {
      if (value === undefined) {
        base.delete(slice);
        return () => this.#write(key, st, slice, undefined);
      }
      // A slice storage did not hold, never written by this device (or one of `defaults`): its value is the reducer's
      // initial state (a rehydrate from nothing). Written as a default: another device's version of it wins, even one
      // this replica has not pulled yet; a deletion (a purge, then a reload) does not.
      // (A default whose write failed is written again as one, while the state still holds it.)
      const failedDefault = base.get(slice) === DIRTY && st.failedDefaults.has(slice) && st.failed.get(slice) === value;
      const initial = defaults.has(slice) || failedDefault || purged?.get(slice) === value || (!base.has(slice) && !st.removed && !st.seq.has(slice));
      base.set(slice, value);
      st.unapplied?.delete(slice);
      return () => this.#write(key, st, slice, value, initial);
    };
    const sends = changes.map(([slice, value]) => ({ slice, send: plan(slice, value), persist: slice === '_persist' && value !== undefined }));
    // `_persist` first, in the same batch as the other slices (a first state, a new version, after a purge): the store
    // writes them in call order, so a local-first replica's push never sends the slices ahead of it, and a device
    // reading while they arrive does not find slices without it — which redux-persist would take for version -1 and
    // migrate again (createMigrate), writing the result over them. (Not awaited before the others: a version's
    // `_persist` stored without its migrated slices would stay over the old ones for good.)
    sends.sort((x, y) => Number(y.persist) - Number(x.persist));
    const writes = sends.map((x) => x.send());
    st.order = [...next.keys()];
    return { done: Promise.all(writes).then(() => undefined) };
  }

  /** Writes (or with `undefined` deletes) one slice; a failure marks it dirty so the next `setItem` writes it again. */
  /** `initial`: the value is the reducer's initial state, written as a default (see `AS_DEFAULT`). */
  #write(key: string, st: KeyState, slice: string, value: string | undefined, initial = false): Promise<void> {
    const id = this.sliceId(key, slice);
    st.seq.set(slice, (st.seq.get(slice) ?? 0) + 1);
    st.written.set(slice, value);
    if (slice === '_persist') persistSeen(st, value, st.persistAt, false);
    const write = value === undefined ? remove(this.store, id) : this.store.set(id, sliceToValue(value), initial ? AS_DEFAULT : DECIDED);
    st.writing.set(slice, write);
    const seq = st.seq.get(slice);
    const done = () => {
      if (st.writing.get(slice) === write) st.writing.delete(slice);
    };
    return write.then(
      () => {
        done();
        // The latest write of the slice: what it failed before is written now.
        if (st.seq.get(slice) !== seq || !st.failed.has(slice)) return;
        st.failed.delete(slice);
        st.failedDefaults.delete(slice);
        if (st.base?.get(slice) !== DIRTY) return;
        if (value === undefined) st.base.delete(slice);
        else st.base.set(slice, value);
      },
      (error: unknown) => {
        done();
        const base = st.base;
        if (base && (value === undefined ? !base.has(slice) : base.get(slice) === value)) base.set(slice, DIRTY);
        if (st.seq.get(slice) === seq) {
          st.failed.set(slice, value);
          if (initial) st.failedDefaults.add(slice);
          else st.failedDefaults.delete(slice);
        }
        throw error;
      },
    );
  }
}

/** True when `value` is a storage made by {@link createPersistStorage}. */
export function engineOf(value: unknown): PersistEngine | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const engine = (value as { [ENGINE]?: unknown })[ENGINE];
  return engine instanceof PersistEngine ? engine : undefined;
}

/**
 * A write refused because the client is closed, with the advice: redux-persist calls setItem/removeItem on a later
 * timer tick, so an action dispatched (or a purge) just before logout() comes after it.
 */
const afterClose = (method: 'setItem' | 'removeItem', key: string) => (error: unknown): never => {
  if (!isFeatError(error, 'closed')) throw error;
  const what = method === 'setItem' ? 'this state was not saved' : 'the stored state was not removed';
  // (A key of redux-persist's is written on its timer: the persistor says when; any other, the call itself.)
  const wait = !key.startsWith(PERSIST_PREFIX) ? `await ${method}()` : method === 'setItem' ? 'await persistor.flush()' : 'await persistor.purge()';
  throw new FeatError('closed', `${method}("${key}") came after close(): ${what}; ${wait} before close() or logout()`, { key, cause: error });
};

const STORE_METHODS = ['get', 'set', 'remove', 'getItem', 'setItem', 'removeItem', 'getParts', 'watch', 'flush'] as const;

function asStore(value: unknown): PersistBackingStore | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (STORE_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')) return value as PersistBackingStore;
  return undefined;
}

/**
 * A redux-persist storage engine over the feat store: each top-level slice of `persist:<key>` is its own part
 * (`persist:<key>:<slice>`), so a change to one slice writes one small document, and nothing is written when nothing
 * changed. Never clobbers: a device whose rehydrate timed out writes only the slices it changed afterwards.
 *
 * ```ts
 * const storage = createPersistStorage(client.store);
 * const reducer = persistReducer({ key: 'root', storage }, rootReducer);
 * ```
 */
export function createPersistStorage(
  store: PersistBackingStore | { readonly store: PersistBackingStore },
  options: PersistStorageOptions = {},
): FeatPersistStorage {
  if (typeof store !== 'object' || store === null) throw new FeatValidationError('invalid_argument', 'createPersistStorage() takes client.store (or the client)');
  const backing = asStore(store) ?? asStore((store as { store?: unknown }).store);
  if (!backing) {
    throw new FeatValidationError('invalid_argument', 'createPersistStorage() takes client.store (or the client): an object with get/set/getParts/watch/flush…');
  }
  if (typeof options !== 'object' || options === null) throw new FeatValidationError('invalid_argument', 'createPersistStorage() takes an options object');
  const { timeout = DEFAULT_REHYDRATE_TIMEOUT_MS } = options;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    throw new FeatValidationError('invalid_argument', 'createPersistStorage(): "timeout" must be persistConfig.timeout: a number of milliseconds ≥ 0 (0: none)');
  }
  const engine = new PersistEngine(backing, timeout);
  const storage: FeatPersistStorage = {
    getItem: (key) => (typeof key === 'string' ? engine.getItem(key) : Promise.reject(badKey(key))),
    setItem: (key, value) => (typeof key === 'string' ? engine.setItem(key, value) : Promise.reject(badKey(key))),
    removeItem: (key) => (typeof key === 'string' ? engine.removeItem(key) : Promise.reject(badKey(key))),
    flush: () => engine.flush(),
  };
  Object.defineProperty(storage, ENGINE, { value: engine, enumerable: false });
  return Object.freeze(storage);
}

/** Records the stored `_persist` (`undefined`: absent) as of `at`; `removal`: an absence after a presence is a removal. */
function persistSeen(st: KeyState, value: string | undefined, at: number, removal = true): void {
  st.gone = value === undefined && removal && (st.gone || st.persist !== undefined);
  st.persist = value;
  st.persistAt = at;
}

/** redux-persist's state version in a `_persist` string (createMigrate's rule: none → -1). */
function versionOf(persist: string): number {
  try {
    const version = (JSON.parse(persist) as { version?: unknown } | null)?.version;
    return typeof version === 'number' ? version : -1;
  } catch {
    return -1;
  }
}

function badKey(key: unknown): FeatValidationError {
  return new FeatValidationError('invalid_key', `The storage key must be a string, got ${key === null ? 'null' : typeof key}`);
}
