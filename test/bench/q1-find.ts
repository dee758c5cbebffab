/**
 * Q1 "find with an index": 10,000 values, 1 % matching, local-first (memory replica), against raw pouchdb-find on the
 * same documents (same shape, same index) in a plain PouchDB memory database, interleaved run by run (which goes first
 * alternates).
 * Goal: ≤ 1.0× raw pouchdb-find.
 * Then a new device of the same account (with three big values of 4 MB: chunked): its first query, with no index, then
 * the same query again (a first query used to build an index of chunked values' manifests over every document, chunks
 * included: seconds in Chromium's IndexedDB; test/query/first-find-reads.test.ts checks that no chunk is read). A
 * memory replica reads chunks cheaply: here the first query's extra cost is mostly its first read of the prefix.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { createRequire } from 'node:module';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt, percentile } from './helpers.js';

const VALUES = Number(process.env.Q1_VALUES ?? 10_000);
const RUNS = Number(process.env.Q1_RUNS ?? 60);
const BIG_MB = Number(process.env.Q1_BIG_MB ?? 4);
const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
const find = createRequire(import.meta.url)('pouchdb-find') as Record<'find' | 'createIndex', (this: unknown, q: unknown) => Promise<{ docs: unknown[] }>>;

const emu = await startEmulator({ port: 0 });
const value = (i: number) => ({ cat: `c${i % 100}`, n: i, title: `item ${i}` });
/** `bytes` of text that chunks apart (no two pieces alike). */
function bigText(bytes: number, seed: number): string {
  let x = seed;
  const out: string[] = [];
  for (let n = 0; n < bytes; n++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out.push(String.fromCharCode(97 + (x % 26)));
  }
  return out.join('');
}
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

  // A new device: the account, with three big values (chunked), synced to a fresh replica; then its first query.
  for (let b = 0; b < 3; b++) await client.store.set(`big:${b}`, { b, title: 'big', text: bigText(BIG_MB * 1_000_000, b + 1) });
  await client.sync.waitForPush({ timeout: 120_000 });
  const device = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('q1')), local: { adapter: 'memory' }, initialSyncTimeout: 300_000 });
  await device.ready();
  const query = { prefix: 'items', selector: { title: 'item 7' } };
  const timeFind = async () => {
    const t0 = performance.now();
    const found = await device.store.find(query, { onWarning: () => undefined });
    if (found.length !== 1) throw new Error(`Q1: the new device found ${found.length} values, not 1`);
    return performance.now() - t0;
  };
  const firstMs = await timeFind();
  const againMs: number[] = [];
  for (let i = 0; i < 5; i++) againMs.push(await timeFind());
  againMs.sort((a, b) => a - b);
  console.log(`  a new device (${VALUES} values + 3 chunked values of ${BIG_MB} MB), a query with no index: first ${fmt(firstMs)} ms, then p50 ${fmt(percentile(againMs, 50))} ms`);
  await device.close();
  await client.close();
} finally {
  await emu.stop();
}
