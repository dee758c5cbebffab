/**
 * W4 local write throughput: local-first `set` against raw PouchDB `put` (cached rev) on the same adapter (memory), in
 * the same run. Sequential writes are measured interleaved — one raw put, one SDK set, … — so both see the same JIT,
 * GC and machine load; the figure is writes per second of each. A burst (writes issued without awaiting, then flushed)
 * is shown for context. Goal: sequential ≥ 0.85× raw PouchDB. Sync is paused: only the local write path is measured.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt } from './helpers.js';

const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
const N = Number(process.env.W4_WRITES ?? 6000);
const WARMUP = 1000;
const KEYS = 100;
const emu = await startEmulator({ port: 0 });
const value = (i: number) => ({ i, text: 'draft text '.repeat(20) });

try {
  const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('w4')), local: { adapter: 'memory' } });
  await client.ready();
  client.sync.pause();
  const db = new PouchDB(`w4-raw-${Date.now()}`, { adapter: 'memory' });
  const revs = new Map<string, string>();
  let rawMs = 0;
  let sdkMs = 0;
  for (let i = 0; i < WARMUP + N; i++) {
    const id = `k${i % KEYS}`;
    const t0 = performance.now();
    const rev = revs.get(id);
    revs.set(id, (await db.put({ _id: id, ...(rev ? { _rev: rev } : {}), doc: value(i) })).rev);
    const t1 = performance.now();
    await client.store.set(id, value(i));
    const t2 = performance.now();
    if (i >= WARMUP) {
      rawMs += t1 - t0;
      sdkMs += t2 - t1;
    }
  }
  const raw = (N / rawMs) * 1000;
  const sdk = (N / sdkMs) * 1000;

  const tb = performance.now();
  for (let i = 0; i < N; i++) void client.store.set(`k${i % KEYS}`, value(i));
  await client.store.flush();
  const burst = (N / (performance.now() - tb)) * 1000;
  await client.close();
  await db.destroy();

  console.log(`W4 local write throughput: ${N} writes over ${KEYS} keys, memory adapter, sync paused (after ${WARMUP} warm-up writes)`);
  console.log(`  sequential (awaited, interleaved): raw put ${fmt(raw, 0)}/s, @feat/sdk set ${fmt(sdk, 0)}/s → ${fmt(sdk / raw, 2)}× (goal ≥ 0.85×)`);
  console.log(`  burst (not awaited, then flush): @feat/sdk ${fmt(burst, 0)} sets/s (coalesced to ${KEYS} documents)`);
} finally {
  await emu.stop();
}
