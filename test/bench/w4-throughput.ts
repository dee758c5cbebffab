/**
 * W4 local write throughput: local-first `set` against raw PouchDB `put` (cached rev) on the same adapter (memory),
 * in the same run. Sequential (each write awaited) and burst (writes issued without awaiting, then flushed).
 * Goal: ≥ 0.85× of raw PouchDB. Sync is paused so that only the local write path is measured.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { createFeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/sdk/emulator';
import { fmt } from './helpers.js';

const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
const N = Number(process.env.W4_WRITES ?? 3000);
const KEYS = 100;
const emu = await startEmulator({ port: 0 });
const value = (i: number) => ({ i, text: 'draft text '.repeat(20) });

async function rawSequential(): Promise<number> {
  const db = new PouchDB(`w4-raw-seq-${Date.now()}`, { adapter: 'memory' });
  const revs = new Map<string, string>();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const id = `k${i % KEYS}`;
    const rev = revs.get(id);
    revs.set(id, (await db.put({ _id: id, ...(rev ? { _rev: rev } : {}), doc: value(i) })).rev);
  }
  const ms = performance.now() - t0;
  await db.destroy();
  return (N / ms) * 1000;
}

async function rawBurst(): Promise<number> {
  const db = new PouchDB(`w4-raw-burst-${Date.now()}`, { adapter: 'memory' });
  // A naive app issuing puts without awaiting would conflict on its own revs; the fair raw burst is one bulkDocs
  // of the latest value per key, which is what a coalescing layer must beat or match.
  const t0 = performance.now();
  const latest = new Map<string, unknown>();
  for (let i = 0; i < N; i++) latest.set(`k${i % KEYS}`, value(i));
  await db.bulkDocs([...latest].map(([id, v]) => ({ _id: id, doc: v })));
  const ms = performance.now() - t0;
  await db.destroy();
  return (N / ms) * 1000;
}

async function sdk(burst: boolean): Promise<number> {
  const client = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(`w4-${burst ? 'burst' : 'seq'}`),
    local: { adapter: 'memory' },
  });
  await client.ready();
  client.sync.pause();
  const t0 = performance.now();
  if (burst) {
    for (let i = 0; i < N; i++) void client.store.set(`k${i % KEYS}`, value(i));
    await client.store.flush();
  } else {
    for (let i = 0; i < N; i++) await client.store.set(`k${i % KEYS}`, value(i));
  }
  const ms = performance.now() - t0;
  await client.logout({ destroyLocal: true });
  return (N / ms) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  // Alternating rounds (the first of each is warm-up), medians reported: JIT warm-up and GC otherwise decide.
  const ROUNDS = Number(process.env.W4_ROUNDS ?? 5);
  const rs: number[] = [];
  const ss: number[] = [];
  const rb: number[] = [];
  const sb: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const r = [await rawSequential(), await sdk(false), await rawBurst(), await sdk(true)];
    if (round === 0) continue;
    rs.push(r[0]!);
    ss.push(r[1]!);
    rb.push(r[2]!);
    sb.push(r[3]!);
  }
  console.log(`W4 local write throughput: ${N} writes over ${KEYS} keys, memory adapter, sync paused, median of ${ROUNDS} rounds`);
  console.log(
    `  sequential (awaited): raw put ${fmt(median(rs), 0)}/s, @feat/sdk set ${fmt(median(ss), 0)}/s → ${fmt(median(ss) / median(rs), 2)}× (goal ≥ 0.85×)`,
  );
  console.log(
    `  burst (not awaited):  raw bulkDocs of the latest values ${fmt(median(rb), 0)}/s, @feat/sdk set + flush ${fmt(median(sb), 0)}/s → ${fmt(median(sb) / median(rb), 2)}×`,
  );
} finally {
  await emu.stop();
}
