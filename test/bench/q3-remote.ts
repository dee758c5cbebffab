/**
 * Q3 "remote find": 1,000 matches among 10,000 values, remote mode: the requests `find()` sends (it follows `_find`
 * bookmark pages of 1,000), against reading the values one request per matching key (`get` each), in the same run.
 * Goal: requests = result pages (plus the SDK's own index and manifest requests), never one per document.
 */
import { createFeatClient } from '@feat/sdk';
import { runUser, startEmulator } from './backend.js';
import { countingFetch, fmt } from './helpers.js';

const VALUES = Number(process.env.Q3_VALUES ?? 10_000);
const emu = await startEmulator({ port: 0 });
try {
  const counter = countingFetch();
  const lines: string[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    lines.push(`${(init?.method ?? 'GET').toUpperCase()} ${url.pathname.split('/').slice(2).join('/')}`);
    return counter.fetch(input, init);
  };
  const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(runUser('q3')), mode: 'remote', fetch: fetchFn });
  await client.ready();
  const parts: Record<string, { match: boolean; n: number }> = {};
  for (let i = 0; i < VALUES; i++) parts[String(i).padStart(5, '0')] = { match: i % 10 === 0, n: i };
  await client.store.setParts('q3', parts);

  lines.length = 0;
  const t0 = performance.now();
  const found = await client.store.find({ prefix: 'q3', selector: { match: true } }, { onWarning: () => undefined });
  const findMs = performance.now() - t0;
  const findLines = [...lines];
  if (found.length !== VALUES / 10) throw new Error(`Q3: ${found.length} matches`);

  lines.length = 0;
  const t1 = performance.now();
  for (const r of found) await client.store.get(`q3:${r.subkey}`);
  const perDocMs = performance.now() - t1;
  const perDoc = lines.length;

  const pages = findLines.filter((l) => l.endsWith('_find')).length - 1;
  console.log(`Q3 remote find: ${found.length} matches among ${VALUES} values, remote mode, loopback`);
  console.log(`  baseline (one get per matching key): ${perDoc} requests, ${fmt(perDocMs)} ms`);
  console.log(`  @feat/sdk store.find: ${findLines.length} requests, ${fmt(findMs)} ms — ${pages} _find pages of ≤ 1,000 + ${findLines.length - pages} others (${findLines.filter((l) => !/_find$/.test(l) || false).join(', ') || '-'}; one _find for chunked values' manifests)`);
  console.log(`  requests per result page: ${fmt(findLines.length / Math.max(1, pages), 2)} (goal: pages, never one per document)`);
  await client.close();
} finally {
  await emu.stop();
}
