/**
 * W3 propagation: two devices of one user (local-first, memory replicas), 300 edits on one, the time until the
 * other sees each edit (p50 / p99), against raw PouchDB live sync between two memory databases and the same server
 * database in the same run (the W3 target is the ratio to that baseline, ≤ 1.1×; the absolute figure is bounded by
 * the server's changes feed).
 */
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import MemoryAdapter from 'pouchdb-adapter-memory';
import replication from 'pouchdb-replication';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt, percentile, rawRemote } from './helpers.js';

// The SDK registers the http adapter and replication on the shared pouchdb-core when it loads.
const core = PouchDB as unknown as { adapters: Record<string, unknown>; prototype: object };
if (!core.adapters.http) PouchDB.plugin(HttpAdapter);
if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
if (!('replicate' in core.prototype)) PouchDB.plugin(replication);
const EDITS = Number(process.env.W3_EDITS ?? 300);
const emu = await startEmulator({ port: 0 });

interface Setup {
  edit(i: number): Promise<void>;
  arrivals: Map<number, number>;
  close(): Promise<void>;
}

/** Edits `from`..`to`-1 one at a time, each measured until the other device has it. */
async function measure({ edit, arrivals }: Setup, from: number, to: number, latencies: number[]): Promise<void> {
  for (let i = from; i < to; i++) {
    const sent = performance.now();
    await edit(i);
    const deadline = Date.now() + 10_000;
    while (!arrivals.has(i)) {
      if (Date.now() > deadline) throw new Error(`W3: edit ${i} never arrived`);
      await new Promise((r) => setTimeout(r, 1));
    }
    latencies.push(arrivals.get(i)! - sent);
  }
}

async function sdk(): Promise<Setup> {
  const user = runUser('w3-sdk');
  const mk = () => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
  const a = mk();
  const b = mk();
  await Promise.all([a.ready(), b.ready()]);
  const arrivals = new Map<number, number>();
  b.store.watch('w3', (e) => {
    const i = (e.value as { i?: number } | undefined)?.i;
    if (typeof i === 'number' && !arrivals.has(i)) arrivals.set(i, performance.now());
  });
  await new Promise((r) => setTimeout(r, 500));
  return {
    edit: (i) => a.store.set('w3', { i }),
    arrivals,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

async function raw(): Promise<Setup> {
  const { fetchFn: withHeaders, dbUrl } = await rawRemote(emu, runUser('w3-raw'));
  const Memory = PouchDB.defaults({ adapter: 'memory' } as PouchDB.Configuration.DatabaseConfiguration);
  const remote = new PouchDB(dbUrl, { fetch: withHeaders, skip_setup: true } as PouchDB.Configuration.RemoteDatabaseConfiguration);
  const a = new Memory(`w3-raw-a-${Date.now()}`);
  const b = new Memory(`w3-raw-b-${Date.now()}`);
  const syncs = [a.sync(remote, { live: true, retry: true }), b.sync(remote, { live: true, retry: true })];
  const arrivals = new Map<number, number>();
  const feed = b.changes({ since: 'now', live: true, include_docs: true }).on('change', (c) => {
    const i = (c.doc as { i?: number } | undefined)?.i;
    if (typeof i === 'number' && !arrivals.has(i)) arrivals.set(i, performance.now());
  });
  await new Promise((r) => setTimeout(r, 500));
  let rev: string | undefined;
  return {
    edit: async (i) => {
      rev = (await a.put({ _id: 'w3', ...(rev ? { _rev: rev } : {}), i })).rev;
    },
    arrivals,
    close: async () => {
      feed.cancel();
      syncs.forEach((s) => s.cancel());
      await new Promise((r) => setTimeout(r, 200));
      await Promise.all([a.destroy(), b.destroy()]);
    },
  };
}

try {
  // Both run side by side, alternating blocks of edits, so drift of the machine affects both alike.
  const [baseline, client] = [await raw(), await sdk()];
  const base: number[] = [];
  const ours: number[] = [];
  const BLOCK = 25;
  for (let i = 0; i < EDITS; i += BLOCK) {
    await measure(baseline, i, Math.min(EDITS, i + BLOCK), base);
    await measure(client, i, Math.min(EDITS, i + BLOCK), ours);
  }
  await Promise.all([baseline.close(), client.close()]);
  base.sort((a, b) => a - b);
  ours.sort((a, b) => a - b);
  const row = (name: string, l: number[]) =>
    console.log(`  ${name.padEnd(34)} p50 ${fmt(percentile(l, 50)).padStart(7)} ms   p99 ${fmt(percentile(l, 99)).padStart(7)} ms`);
  console.log(`W3 propagation: ${EDITS} edits on one device, time until the other device sees each (loopback)`);
  row('raw PouchDB live sync (baseline)', base);
  row('@feat/sdk local-first', ours);
  console.log(
    `  ratio to baseline: p50 ${fmt(percentile(ours, 50) / percentile(base, 50), 2)}×, p99 ${fmt(percentile(ours, 99) / percentile(base, 99), 2)}× (goal ≤ 1.1×)`,
  );
} finally {
  await emu.stop();
}
