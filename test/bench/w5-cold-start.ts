/**
 * W5 cold start: time from creating a client to the first `get` resolving, with 10,000 documents in a persistent
 * (leveldb) replica that has synced before, against raw PouchDB opening the same kind of database and reading one
 * document, in the same run. The browser bundle size of `@feat/sdk` is measured by `npm run size` (see
 * docs/benchmarks.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PouchDB from 'pouchdb-core';
import LevelAdapter from 'pouchdb-adapter-leveldb';
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { fmt } from './helpers.js';

const core = PouchDB as unknown as { adapters: Record<string, unknown> };
if (!core.adapters.leveldb) PouchDB.plugin(LevelAdapter);
const DOCS = Number(process.env.W5_DOCS ?? 10_000);
const RUNS = 5;
const emu = await startEmulator({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), 'feat-w5-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const name = join(dir, 'replica');
  const options = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('w5')), local: { adapter: 'leveldb', name } };
  const seed = createFeatClient(options);
  for (let i = 0; i < DOCS; i++) void seed.store.set(`draft:${String(i).padStart(5, '0')}`, { i, text: 'some draft text '.repeat(8) });
  await seed.store.flush();
  await seed.sync.waitForPush({ timeout: 120_000 });
  await seed.close();

  const ours: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const client = createFeatClient(options);
    const value = await client.store.get<{ i: number }>('draft:05000');
    ours.push(performance.now() - t0);
    if (value?.i !== 5000) throw new Error('W5: wrong value');
    await client.close();

    const t1 = performance.now();
    const db = new PouchDB(name, { adapter: 'leveldb' });
    const doc = (await db.get('draft:05000')) as unknown as { doc: { i: number } };
    raw.push(performance.now() - t1);
    if (doc.doc.i !== 5000) throw new Error('W5: wrong raw value');
    await db.close();
  }
  console.log(`W5 cold start: ${DOCS} documents in a leveldb replica that synced before, median of ${RUNS}`);
  console.log(`  raw PouchDB open + get:            ${fmt(median(raw))} ms`);
  console.log(`  @feat/sdk createFeatClient + get:  ${fmt(median(ours))} ms (${fmt(median(ours) / median(raw), 2)}×; no network wait: the replica opens first)`);
} finally {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
