/**
 * W2 big objects: (a) 20 MB in 200 parts of 100 KB, change one part → request bytes sent / part size (goal ≤ 1.2×);
 * (b) a 12 MB single value, change one block in the middle → bytes sent vs the whole value (goal: far below it).
 * Remote mode (every byte goes over the wire) and local-first (bytes pushed by replication), through the emulator's
 * default 1 MiB body limit.
 */
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { countingFetch, fmt } from './helpers.js';

const MB = 1_000_000;
const emu = await startEmulator({ port: 0 });

/** Deterministic pseudo-random lowercase text (mulberry32), not periodic like a plain LCG's low bits. */
function text(bytes: number, seed: number): string {
  let a = seed >>> 0;
  const out = new Array<string>(bytes);
  for (let i = 0; i < bytes; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = String.fromCharCode(97 + (((t ^ (t >>> 14)) >>> 0) % 26));
  }
  return out.join('');
}

async function run(mode: NonNullable<FeatClientOptions['mode']>, user: string) {
  const counter = countingFetch();
  const client = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    mode,
    local: { adapter: 'memory' },
    fetch: counter.fetch,
  });
  const parts: Record<string, string> = {};
  for (let i = 0; i < 200; i++) parts[`p${String(i).padStart(3, '0')}`] = text(100_000, i + 1);
  await client.store.setParts('doc', parts);
  await client.sync.waitForPush({ timeout: 120_000 });

  counter.counts.bodyBytes = 0;
  const t0 = performance.now();
  await client.store.setParts('doc', { ...parts, p100: text(100_000, 9999) });
  await client.sync.waitForPush({ timeout: 60_000 });
  const partMs = performance.now() - t0;
  const partBytes = counter.counts.bodyBytes;

  const big = text(12 * MB, 77);
  await client.store.set('big', big);
  await client.sync.waitForPush({ timeout: 120_000 });
  counter.counts.bodyBytes = 0;
  const t1 = performance.now();
  const edited = big.slice(0, 6 * MB) + 'an edited sentence in the middle of the draft.' + big.slice(6 * MB + 46);
  await client.store.set('big', edited);
  await client.sync.waitForPush({ timeout: 60_000 });
  const blockMs = performance.now() - t1;
  const blockBytes = counter.counts.bodyBytes;
  if ((await client.store.get<string>('big')) !== edited) throw new Error('W2: the edited value did not round-trip');
  await client.close();
  return { partBytes, partMs, blockBytes, blockMs };
}

try {
  console.log('W2 big objects (1 MiB body limit)');
  for (const mode of ['remote', 'local-first'] as const) {
    const r = await run(mode, runUser(`w2-${mode}`));
    console.log(`  ${mode}:`);
    console.log(
      `    20 MB in 200 parts, one 100 KB part changed: ${r.partBytes} bytes sent = ${fmt(r.partBytes / 100_000, 2)}× the part (goal ≤ 1.2×), ${fmt(r.partMs)} ms`,
    );
    console.log(
      `    12 MB value, one block changed: ${r.blockBytes} bytes sent = ${fmt((r.blockBytes / (12 * MB)) * 100, 2)} % of the value, ${fmt(r.blockMs)} ms`,
    );
  }
} finally {
  await emu.stop();
}
