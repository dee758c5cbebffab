/**
 * Q1 "find with an index": 10,000 values, 1 % matching, local-first (memory replica), against raw pouchdb-find on the
 * same documents (same shape, same index) in a plain PouchDB memory database, interleaved run by run (which goes first
 * alternates).
 * Goal: ≤ 1.0× raw pouchdb-find.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { createRequire } from 'node:module';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt, percentile } from './helpers.js';

const VALUES = Number(process.env.Q1_VALUES ?? 10_000);
const RUNS = Number(process.env.Q1_RUNS ?? 60);
const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
const find = createRequire(import.meta.url)('pouchdb-find') as Record<'find' | 'createIndex', (this: unknown, q: unknown) => Promise<{ docs: unknown[] }>>;

const emu = await startEmulator({ port: 0 });
const value = (i: number) => ({ cat: `c${i % 100}`, n: i, title: `item ${i}` });
try {
  const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('q1')), local: { adapter: 'memory' } });
  await client.ready();
  const parts: Record<string, unknown> = {};
  for (let i = 0; i < VALUES; i++) parts[String(i).padStart(5, '0')] = value(i);
  await client.store.setParts('items', parts);
  await client.store.createIndex({ fields: ['cat'] });
  // Measured on a settled replica: the 10,000 values are on the server and live sync is idle (pushing them takes
  // seconds and would share the CPU with whichever side runs meanwhile).
  const t0 = performance.now();
  await client.sync.waitForPush({ timeout: 120_000 });
  while (client.sync.status !== 'idle' && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 50));

  const raw = new PouchDB('q1-raw', { adapter: 'memory' }) as unknown as { bulkDocs(d: unknown[]): Promise<unknown>; destroy(): Promise<void> };
  const docs = Object.entries(parts).map(([s, v]) => ({ _id: `items:${s}`, doc: v, feat: { updatedAt: Date.now() } }));
  for (let i = 0; i < docs.length; i += 1000) await raw.bulkDocs(docs.slice(i, i + 1000));
  await find.createIndex.call(raw, { index: { fields: ['doc.cat'] } });

  const sdkMs: number[] = [];
  const rawMs: number[] = [];
  let sdkCount = 0;
  let rawCount = 0;
  for (let run = -3; run < RUNS; run++) {
    const cat = `c${(run + 3) % 100}`;
    const timeRaw = async () => {
      const t0 = performance.now();
      rawCount = (await find.find.call(raw, { selector: { 'doc.cat': cat }, limit: 1e9 })).docs.length;
      return performance.now() - t0;
    };
    const timeSdk = async () => {
      const t0 = performance.now();
      sdkCount = (await client.store.find({ prefix: 'items', selector: { cat } }, { onWarning: () => undefined })).length;
      return performance.now() - t0;
    };
    // Which goes first alternates, so neither always pays for the other's garbage.
    let r: number;
    let s: number;
    if (run % 2 === 0) {
      r = await timeRaw();
      s = await timeSdk();
    } else {
      s = await timeSdk();
      r = await timeRaw();
    }
    if (run >= 0) {
      rawMs.push(r);
      sdkMs.push(s);
    }
  }
  if (sdkCount !== VALUES / 100 || rawCount !== VALUES / 100) throw new Error(`Q1: expected ${VALUES / 100} matches, got ${sdkCount} / ${rawCount}`);
  rawMs.sort((a, b) => a - b);
  sdkMs.sort((a, b) => a - b);
  const r = percentile(rawMs, 50);
  const s = percentile(sdkMs, 50);
  console.log(`Q1 find with an index: ${VALUES} values, ${sdkCount} matching (1 %), local-first memory replica, ${RUNS} runs interleaved`);
  console.log(`  baseline (raw pouchdb-find, same docs and index): p50 ${fmt(r)} ms, p90 ${fmt(percentile(rawMs, 90))} ms`);
  console.log(`  @feat/sdk store.find:                            p50 ${fmt(s)} ms, p90 ${fmt(percentile(sdkMs, 90))} ms`);
  console.log(`  ratio p50: ${fmt(s / r, 2)}× (goal ≤ 1.0×)`);
  await raw.destroy();
  await client.close();
} finally {
  await emu.stop();
}
