/**
 * Q2 "live query": `watchQuery` of 100 results over 10,000 values (local-first, memory replica); one write at a time
 * that changes the results: time from the `set()` call to the listener's new result set, against re-running the same
 * query with `find()` (what a naive live query does on every change), measured in the same run.
 * Goal: listener p50 ≤ 5 ms and ≤ 0.2× the re-run.
 */
import { createFeatClient, type QueryResult } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt, percentile } from './helpers.js';

const VALUES = Number(process.env.Q2_VALUES ?? 10_000);
const WRITES = Number(process.env.Q2_WRITES ?? 50);
const emu = await startEmulator({ port: 0 });
type V = { hot: boolean; n: number };
try {
  const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('q2')), local: { adapter: 'memory' } });
  await client.ready();
  const parts: Record<string, V> = {};
  for (let i = 0; i < VALUES; i++) parts[String(i).padStart(5, '0')] = { hot: i % (VALUES / 100) === 0, n: i };
  await client.store.setParts('q2', parts);
  await client.store.createIndex({ fields: ['hot'] });
  const query = { prefix: 'q2', selector: { hot: true } };

  let resolveNext: ((results: QueryResult<V>[]) => void) | undefined;
  let first!: () => void;
  const ready = new Promise<void>((resolve) => (first = resolve));
  let sets = 0;
  const stop = client.store.watchQuery<V>(query, (results) => {
    sets++;
    if (sets === 1) return first();
    resolveNext?.(results);
  }, { onWarning: () => undefined });
  await ready;

  const listenerMs: number[] = [];
  const rerunMs: number[] = [];
  for (let w = -3; w < WRITES; w++) {
    const id = String(((w + 3) % 100) * (VALUES / 100)).padStart(5, '0');
    const next = new Promise<QueryResult<V>[]>((resolve) => (resolveNext = resolve));
    const t0 = performance.now();
    void client.store.set(`q2:${id}`, { hot: true, n: -w - 10 });
    const results = await next;
    const t1 = performance.now();
    if (results.length !== 100) throw new Error(`Q2: ${results.length} results`);
    const t2 = performance.now();
    const again = await client.store.find(query, { onWarning: () => undefined });
    const t3 = performance.now();
    if (again.length !== 100) throw new Error(`Q2: find gave ${again.length}`);
    if (w >= 0) {
      listenerMs.push(t1 - t0);
      rerunMs.push(t3 - t2);
    }
  }
  stop();
  listenerMs.sort((a, b) => a - b);
  rerunMs.sort((a, b) => a - b);
  const l = percentile(listenerMs, 50);
  const r = percentile(rerunMs, 50);
  console.log(`Q2 live query: 100 results over ${VALUES} values, ${WRITES} writes that change them, local-first memory replica`);
  console.log(`  baseline (re-running the query with find): p50 ${fmt(r)} ms, p90 ${fmt(percentile(rerunMs, 90))} ms`);
  console.log(`  @feat/sdk watchQuery, set() → listener:    p50 ${fmt(l)} ms, p90 ${fmt(percentile(listenerMs, 90))} ms`);
  console.log(`  listener p50 ${fmt(l)} ms (goal ≤ 5 ms); ${fmt(l / r, 2)}× the re-run (goal ≤ 0.2×)`);
  await client.close();
} finally {
  await emu.stop();
}
