/**
 * W1 "typing": 2,000 `set`s of one ~2 KB key issued without awaiting (remote mode, emulator on loopback), against a
 * baseline in the same run that does what a naive storage does: one PUT per set with a cached rev.
 * Goal: HTTP writes ≤ 2 % of sets, wall time ≥ 20× better.
 */
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { countingFetch, fmt, proxyHeaders } from './helpers.js';

const SETS = Number(process.env.W1_SETS ?? 2000);
const emu = await startEmulator({ port: 0 });
const value = (i: number) => ({ block: i, text: 'x'.repeat(2000) });

try {
  // Baseline: one PUT per keystroke with the cached rev (the seed's PouchDBStorage.setItem, awaited in order).
  const user = runUser('w1-baseline');
  const warm = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  await warm.ready();
  await warm.close();
  const { headers, dbname } = await proxyHeaders(emu, user);
  const url = `${emu.couchUrl}/${dbname}/draft`;
  let rev: string | undefined;
  const t0 = performance.now();
  for (let i = 0; i < SETS; i++) {
    const res = await fetch(url, {
      method: 'PUT',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ _id: 'draft', ...(rev ? { _rev: rev } : {}), doc: value(i) }),
    });
    rev = ((await res.json()) as { rev: string }).rev;
  }
  const baselineMs = performance.now() - t0;

  // The SDK: the same keystrokes, not awaited, then flush().
  const counter = countingFetch();
  const client = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(runUser('w1-sdk')),
    mode: 'remote',
    fetch: counter.fetch,
  });
  await client.ready();
  counter.counts.writes = 0;
  const t1 = performance.now();
  const promises: Promise<void>[] = [];
  for (let i = 0; i < SETS; i++) promises.push(client.store.set('draft', value(i)));
  await client.store.flush();
  const sdkMs = performance.now() - t1;
  await Promise.all(promises);
  const stored = await client.store.get<{ block: number }>('draft');
  if (stored?.block !== SETS - 1) throw new Error(`W1: the last value was not stored (got block ${stored?.block})`);
  await client.close();

  const writes = counter.counts.writes;
  console.log(`W1 typing: ${SETS} sets of one ~2 KB key, remote mode, loopback`);
  console.log(`  baseline (PUT per set, cached rev): ${SETS} writes, ${fmt(baselineMs)} ms`);
  console.log(`  @feat/sdk (coalesced):              ${writes} writes, ${fmt(sdkMs)} ms`);
  console.log(`  writes/sets: ${fmt((writes / SETS) * 100, 2)} % (goal ≤ 2 %); wall time: ${fmt(baselineMs / sdkMs)}× better (goal ≥ 20×)`);
} finally {
  await emu.stop();
}
