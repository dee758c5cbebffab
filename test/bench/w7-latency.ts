/**
 * W7 sync latency on the emulator with the real server's latency profile (`profile: 'couchdb'`). Three measurements
 * interleaved in the same run, each against its own per-user database:
 * - the floor: one document `PUT` while a long-poll `_changes` (include_docs) waits; the time until that long-poll
 *   answers with the document — what any client needs at least;
 * - @feat/sdk: device A `store.set` → device B's `watch` event (both local-first, memory replicas);
 * - raw PouchDB live sync: A `put` → B's `changes` event (two memory databases, `sync({ live, retry })` each).
 * Device B runs in a thread of its own (device-b.ts), as the backend does (backend.ts): two devices never share an
 * event loop, and under load one device's work would be timed as the other's latency. B stamps what it sees with a
 * time comparable across threads. `W7_SAME_THREAD=1` keeps B in A's thread (as measured before 2026-12).
 * At rest (one edit at a time, the next after the last arrived and a pause), and under load (300 edits ~5 ms apart
 * over 30 keys, not waiting for arrivals). Under load an edit counts as delivered when B sees that value or a later
 * value of the same key (a newer revision may replace one not yet pulled); the last value of every key on B is
 * checked. Goals (issue #19): at rest p50 ≤ 2.5× the floor; under load p50 and p99 ≤ 0.3× raw PouchDB.
 */
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import MemoryAdapter from 'pouchdb-adapter-memory';
import replication from 'pouchdb-replication';
import { Worker } from 'node:worker_threads';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt, percentile, proxyHeaders, rawRemote } from './helpers.js';
import type { DeviceMessage, DeviceSetup } from './device-b.js';

const core = PouchDB as unknown as { adapters: Record<string, unknown>; prototype: object };
if (!core.adapters.http) PouchDB.plugin(HttpAdapter);
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
if (!('replicate' in core.prototype)) PouchDB.plugin(replication);

const REST = Number(process.env.W7_REST ?? 40);
const LOAD_EDITS = Number(process.env.W7_LOAD_EDITS ?? 300);
const LOAD_ROUNDS = Number(process.env.W7_LOAD_ROUNDS ?? 2);
const KEYS = 30;
const GAP_MS = 5;
const ARRIVAL_MS = 30_000;
const emu = await startEmulator({ port: 0, profile: 'couchdb' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const key = (k: number) => `w7/k${k}`;
const SAME_THREAD = process.env.W7_SAME_THREAD === '1';
/** A time comparable across threads (ms). */
const clock = () => performance.timeOrigin + performance.now();

/** Arrivals on device B: for each key, the edits sent and not yet seen (an edit is seen with it or any later one). */
class Arrivals {
  #waiting = new Map<string, { i: number; sent: number }[]>();
  latencies: number[] = [];
  exact = new Set<number>();
  outstanding = 0;

  sent(id: string, i: number, at: number): void {
    const list = this.#waiting.get(id) ?? [];
    list.push({ i, sent: at });
    this.#waiting.set(id, list);
    this.outstanding++;
  }

  seen(id: string, i: number, now = clock()): void {
    this.exact.add(i);
    const list = this.#waiting.get(id);
    if (!list) return;
    while (list.length && list[0]!.i <= i) {
      this.latencies.push(now - list.shift()!.sent);
      this.outstanding--;
    }
  }

  async drained(what: string): Promise<void> {
    const deadline = Date.now() + ARRIVAL_MS;
    while (this.outstanding > 0) {
      if (Date.now() > deadline) throw new Error(`W7 ${what}: ${this.outstanding} edit(s) never arrived`);
      await sleep(1);
    }
  }
}

interface Setup {
  name: string;
  arrivals: Arrivals;
  /** Writes edit `i` of key `k` on device A (resolves when A has it locally). */
  edit(k: number, i: number): Promise<void>;
  /** B's current value index of key `k`. */
  valueOnB(k: number): Promise<number | undefined>;
  close(): Promise<void>;
}

/** The floor: a waiting long-poll, one PUT, the long-poll's answer with the document. */
async function floor() {
  const { fetchFn, dbUrl } = await rawRemote(emu, runUser('w7-floor'));
  const json = async (res: Response) => {
    if (!res.ok) throw new Error(`W7 floor: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const put = (rev: string | undefined, i: number) =>
    fetchFn(`${dbUrl}/floor`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...(rev ? { _rev: rev } : {}), i }) }).then(json);
  let rev = (await put(undefined, -1)).rev as string;
  let since = (await json(await fetchFn(`${dbUrl}/_changes`))).last_seq as string;
  return async function once(i: number): Promise<number> {
    const poll = fetchFn(`${dbUrl}/_changes?feed=longpoll&include_docs=true&timeout=10000&since=${encodeURIComponent(since)}`).then(json);
    await sleep(20); // the long-poll is waiting
    const t0 = performance.now();
    rev = (await put(rev, i)).rev as string;
    const answer = (await poll) as { results: { doc?: { i?: number } }[]; last_seq: string };
    const t1 = performance.now();
    if (answer.results.at(-1)?.doc?.i !== i) throw new Error('W7 floor: the long-poll answered without the document');
    since = answer.last_seq;
    return t1 - t0;
  };
}

/** Device B in its own thread: what it sees goes to `arrivals`; its values are asked for by message. */
async function deviceB(setup: DeviceSetup, arrivals: Arrivals): Promise<{ valueOf(id: string): Promise<number | undefined>; close(): Promise<void> }> {
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), { workerData: { module: new URL('./device-b.ts', import.meta.url).href, setup } });
  const asked = new Map<number, (i: number | undefined) => void>();
  let closed: (() => void) | undefined;
  let asks = 0;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: DeviceMessage) => {
      if (m.kind === 'ready') resolve();
      else if (m.kind === 'seen') arrivals.seen(m.id, m.i, m.at);
      else if (m.kind === 'value') asked.get(m.ask)?.(m.i);
      else closed?.();
    });
    worker.once('error', reject);
  });
  return {
    valueOf: (id) =>
      new Promise((resolve) => {
        asked.set(++asks, resolve);
        worker.postMessage({ kind: 'value', ask: asks, id });
      }),
    close: async () => {
      await new Promise<void>((resolve) => {
        closed = resolve;
        worker.postMessage({ kind: 'close' });
        setTimeout(resolve, 10_000).unref();
      });
      await worker.terminate();
    },
  };
}

async function sdk(): Promise<Setup> {
  const user = runUser('w7-sdk');
  const mk = () => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
  const a = mk();
  await a.ready();
  const arrivals = new Arrivals();
  if (!SAME_THREAD) {
    const b = await deviceB({ kind: 'sdk', couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), prefix: 'w7/' }, arrivals);
    await sleep(500);
    return {
      name: '@feat/sdk local-first',
      arrivals,
      edit: (k, i) => a.store.set(key(k), { i }),
      valueOnB: (k) => b.valueOf(key(k)),
      close: async () => {
        await Promise.all([a.close(), b.close()]);
      },
    };
  }
  const b = mk();
  await b.ready();
  b.store.watch({ prefix: 'w7/' }, (e) => {
    const i = (e.value as { i?: number } | undefined)?.i;
    if (typeof i === 'number' && e.origin === 'remote') arrivals.seen(e.key, i);
  });
  await sleep(500);
  return {
    name: '@feat/sdk local-first',
    arrivals,
    edit: (k, i) => a.store.set(key(k), { i }),
    valueOnB: async (k) => ((await b.store.get(key(k))) as { i?: number } | undefined)?.i,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

async function raw(): Promise<Setup> {
  const user = runUser('w7-raw');
  const { fetchFn, dbUrl } = await rawRemote(emu, user);
  const Memory = PouchDB.defaults({ adapter: 'memory' } as PouchDB.Configuration.DatabaseConfiguration);
  const remote = new PouchDB(dbUrl, { fetch: fetchFn, skip_setup: true } as PouchDB.Configuration.RemoteDatabaseConfiguration);
  const a = new Memory(`w7-raw-a-${Date.now()}`);
  const arrivals = new Arrivals();
  const syncs = [a.sync(remote, { live: true, retry: true })];
  let valueOnB: (k: number) => Promise<number | undefined>;
  let closeB: () => Promise<void>;
  if (!SAME_THREAD) {
    const b = await deviceB({ kind: 'raw', dbUrl, headers: (await proxyHeaders(emu, user)).headers, prefix: 'w7/' }, arrivals);
    valueOnB = (k) => b.valueOf(key(k));
    closeB = () => b.close();
  } else {
    const b = new Memory(`w7-raw-b-${Date.now()}`);
    syncs.push(b.sync(remote, { live: true, retry: true }));
    const feed = b.changes({ since: 'now', live: true, include_docs: true }).on('change', (c) => {
      const i = (c.doc as { i?: number } | undefined)?.i;
      if (typeof i === 'number') arrivals.seen(c.id, i);
    });
    valueOnB = async (k) => ((await b.get(key(k)).catch(() => undefined)) as { i?: number } | undefined)?.i;
    closeB = async () => {
      feed.cancel();
      await sleep(200);
      await b.destroy();
    };
  }
  await sleep(500);
  const revs = new Map<string, Promise<string | undefined>>();
  return {
    name: 'raw PouchDB live sync',
    arrivals,
    edit: (k, i) => {
      const id = key(k);
      const next = (revs.get(id) ?? Promise.resolve(undefined)).then(async (rev) => (await a.put({ _id: id, ...(rev ? { _rev: rev } : {}), i })).rev);
      revs.set(id, next);
      return next.then(() => undefined);
    },
    valueOnB,
    close: async () => {
      syncs.forEach((s) => s.cancel());
      await Promise.all([closeB(), sleep(200).then(() => a.destroy())]);
    },
  };
}

/** One edit at a time: sent, then waited for on B. */
async function atRest(setup: Setup, i: number): Promise<void> {
  const before = setup.arrivals.latencies.length;
  setup.arrivals.sent(key(i % KEYS), i, clock());
  await setup.edit(i % KEYS, i);
  await setup.arrivals.drained(`${setup.name} at rest`);
  if (setup.arrivals.latencies.length !== before + 1) throw new Error('W7: one edit, one arrival');
}

/** LOAD_EDITS edits GAP_MS apart over KEYS keys, not waiting for arrivals; then every edit and the last values. */
async function underLoad(setup: Setup, base: number): Promise<{ superseded: number; wrongLast: number }> {
  const start = performance.now();
  const writes: Promise<void>[] = [];
  const last = new Map<number, number>();
  for (let n = 0; n < LOAD_EDITS; n++) {
    const wait = start + n * GAP_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const i = base + n;
    const k = n % KEYS;
    setup.arrivals.sent(key(k), i, clock());
    writes.push(setup.edit(k, i));
    last.set(k, i);
  }
  await Promise.all(writes);
  await setup.arrivals.drained(`${setup.name} under load`);
  let superseded = 0;
  for (let n = 0; n < LOAD_EDITS; n++) if (!setup.arrivals.exact.has(base + n)) superseded++;
  let wrongLast = 0;
  for (const [k, i] of last) if ((await setup.valueOnB(k)) !== i) wrongLast++;
  return { superseded, wrongLast };
}

const sorted = (l: number[]) => [...l].sort((a, b) => a - b);
const p = (l: number[], q: number) => percentile(sorted(l), q);
const row = (name: string, l: number[]) =>
  console.log(`  ${name.padEnd(30)} p50 ${fmt(p(l, 50)).padStart(7)} ms   p99 ${fmt(p(l, 99)).padStart(7)} ms   (n=${l.length})`);

try {
  const measureFloor = await floor();
  const setups = [await raw(), await sdk()];
  const [rawSetup, sdkSetup] = setups as [Setup, Setup];

  // At rest: floor, raw, SDK in turn (the order rotates each round), one edit at a time.
  const floorMs: number[] = [];
  for (let i = 0; i < REST; i++) {
    const steps = [async () => void floorMs.push(await measureFloor(i)), () => atRest(rawSetup, i), () => atRest(sdkSetup, i)];
    for (let s = 0; s < steps.length; s++) {
      await steps[(s + i) % steps.length]!();
      await sleep(50);
    }
  }
  const restRaw = [...rawSetup.arrivals.latencies];
  const restSdk = [...sdkSetup.arrivals.latencies];
  rawSetup.arrivals.latencies = [];
  sdkSetup.arrivals.latencies = [];

  // Under load: raw and SDK alternate, LOAD_ROUNDS rounds each.
  const checks = new Map<Setup, { superseded: number; wrongLast: number }>(setups.map((s) => [s, { superseded: 0, wrongLast: 0 }]));
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    for (const setup of r % 2 ? [...setups].reverse() : setups) {
      await sleep(300);
      const result = await underLoad(setup, 100_000 * (r + 1));
      const sum = checks.get(setup)!;
      sum.superseded += result.superseded;
      sum.wrongLast += result.wrongLast;
    }
  }
  await Promise.all(setups.map((s) => s.close()));

  console.log(`W7 sync latency, loopback (the emulator runs with profile 'couchdb': the real server's latency)`);
  console.log(` device B ${SAME_THREAD ? "in device A's thread (W7_SAME_THREAD=1)" : 'in a thread of its own'}`);
  console.log(` at rest: ${REST} edits each, one at a time, interleaved`);
  row('floor (PUT → long-poll answer)', floorMs);
  row(rawSetup.name, restRaw);
  row(sdkSetup.name, restSdk);
  console.log(
    `  SDK / floor: p50 ${fmt(p(restSdk, 50) / p(floorMs, 50), 2)}× (goal ≤ 2.5×); raw / floor: p50 ${fmt(p(restRaw, 50) / p(floorMs, 50), 2)}×; ` +
      `SDK / raw: p50 ${fmt(p(restSdk, 50) / p(restRaw, 50), 2)}×`,
  );
  console.log(` under load: ${LOAD_EDITS} edits ${GAP_MS} ms apart over ${KEYS} keys, ${LOAD_ROUNDS} round(s) each, alternating`);
  for (const setup of setups) {
    const c = checks.get(setup)!;
    row(setup.name, setup.arrivals.latencies);
    console.log(`    every edit delivered; ${c.superseded} seen only through a later value; last value wrong on ${c.wrongLast} of ${KEYS} keys per round`);
  }
  const l = sdkSetup.arrivals.latencies;
  const b = rawSetup.arrivals.latencies;
  console.log(`  SDK / raw: p50 ${fmt(p(l, 50) / p(b, 50), 2)}×, p99 ${fmt(p(l, 99) / p(b, 99), 2)}× (goal ≤ 0.3× both)`);
  if ([...checks.values()].some((c) => c.wrongLast > 0)) process.exitCode = 1;
} finally {
  await emu.stop();
}
