/**
 * W6 "redux": a 5 MB persisted state in 50 slices, one hot slice changed 100 times (each change flushed and awaited),
 * with real redux + redux-persist, remote mode, emulator on loopback. Request body bytes sent by the slice engine
 * (`createPersistStorage`) against a plain string engine over the same kind of store (`store.setItem('persist:root',
 * wholeString)` per write), in the same run. Goal: ≤ 5 %.
 */
import { combineReducers, legacy_createStore, type Reducer } from 'redux';
import { persistReducer, persistStore, type Persistor, type Storage } from 'redux-persist';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { createPersistStorage } from '@feat/sdk/redux';
import { countingFetch, fmt } from './helpers.js';

const SLICES = Number(process.env.W6_SLICES ?? 50);
const TOTAL_BYTES = Number(process.env.W6_BYTES ?? 5_000_000);
const CHANGES = Number(process.env.W6_CHANGES ?? 100);
const sliceBytes = Math.floor(TOTAL_BYTES / SLICES);
/** Size of the hot slice; by default the same as every other slice. */
const HOT_BYTES = Number(process.env.W6_HOT_BYTES ?? sliceBytes);

interface Slice {
  rev: number;
  items: string[];
}
type Action = { type: 'edit'; rev: number };

/** Pseudo-random text, so no slice compresses or deduplicates into another. */
function text(seed: number, bytes: number): string[] {
  let x = seed * 2654435761 + 1;
  const items: string[] = [];
  let size = 0;
  while (size < bytes) {
    let s = '';
    for (let i = 0; i < 200; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      s += String.fromCharCode(97 + (x % 26));
    }
    items.push(s);
    size += s.length + 3;
  }
  return items;
}

function reducers(): Reducer {
  const map: Record<string, Reducer<Slice, Action, Slice | undefined>> = {};
  for (let i = 0; i < SLICES; i++) {
    const initial: Slice = { rev: 0, items: text(i + 1, i === 0 ? HOT_BYTES : sliceBytes) };
    // Slice 0 is hot: each edit changes its counter and one of its items (a user typing in one draft).
    map[`slice${String(i).padStart(2, '0')}`] = (state = initial, action) =>
      i === 0 && action.type === 'edit'
        ? { rev: action.rev, items: state.items.map((item, j) => (j === action.rev % state.items.length ? `${item.slice(0, 150)} edit ${action.rev}` : item)) }
        : state;
  }
  return combineReducers(map) as unknown as Reducer;
}

async function run(emu: Awaited<ReturnType<typeof startEmulator>>, user: string, engine: 'slices' | 'plain') {
  const counter = countingFetch();
  let handed = 0;
  const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', fetch: counter.fetch });
  await client.ready();
  const storage: Storage & { flush(): Promise<void> } =
    engine === 'slices'
      ? createPersistStorage(client.store)
      : {
          getItem: (key: string) => client.store.getItem(key),
          setItem: (key: string, value: string) => ((handed += Buffer.byteLength(value)), client.store.setItem(key, value)),
          removeItem: (key: string) => client.store.removeItem(key),
          flush: () => client.store.flush(),
        };
  const store = legacy_createStore(persistReducer({ key: 'root', storage }, reducers()));
  const persistor: Persistor = persistStore(store);
  await new Promise<void>((resolve) => {
    const check = () => persistor.getState().bootstrapped && (unsubscribe(), resolve());
    const unsubscribe = persistor.subscribe(check);
    check();
  });
  await persistor.flush();
  await storage.flush();
  const initialBytes = counter.counts.bodyBytes;
  const stored = (await storage.getItem('persist:root'))?.length ?? 0;
  counter.counts.bodyBytes = 0;
  counter.counts.writes = 0;
  handed = 0;
  const t0 = performance.now();
  for (let rev = 1; rev <= CHANGES; rev++) {
    store.dispatch({ type: 'edit', rev });
    await persistor.flush();
    await storage.flush();
  }
  const ms = performance.now() - t0;
  const result = { bytes: counter.counts.bodyBytes, writes: counter.counts.writes, ms, initialBytes, stored, handed };
  persistor.pause();
  await client.close();
  return result;
}

const emu = await startEmulator({ port: 0 });
try {
  const plain = await run(emu, runUser('w6-plain'), 'plain');
  const slices = await run(emu, runUser('w6-slices'), 'slices');
  const ratio = slices.bytes / plain.bytes;
  const mb = (n: number) => fmt(n / 1e6, 2) + ' MB';
  console.log(`W6 redux: ${fmt(plain.stored / 1e6, 2)} MB persisted state in ${SLICES} slices, one hot slice changed ${CHANGES} times (each flushed), remote mode`);
  console.log(`  plain string engine (whole state per write): ${mb(plain.bytes)} in ${plain.writes} writes, ${fmt(plain.ms)} ms (first save ${mb(plain.initialBytes)})`);
  console.log(`  @feat/sdk/redux (one part per slice):        ${mb(slices.bytes)} in ${slices.writes} writes, ${fmt(slices.ms)} ms (first save ${mb(slices.initialBytes)})`);
  console.log(`  bytes written: ${fmt(ratio * 100, 2)} % of the plain engine's over this store (goal ≤ 5 %: ${ratio <= 0.05 ? 'met' : 'MISSED'})`);
  // The store sends only the changed content-defined chunks of a big value, which already spares the plain engine most
  // of the whole state; a store without that (localStorage, the seed's PouchDBStorage) writes every byte handed to it.
  console.log(
    `  whole-state bytes the plain engine handed to setItem: ${mb(plain.handed)}; the slice engine sent ${fmt((slices.bytes / plain.handed) * 100, 2)} % of that`,
  );
} finally {
  await emu.stop();
}
