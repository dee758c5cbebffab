import { createFeatClient } from '@feat/sdk';
import type { startEmulator } from '@feat/emulator';

export type Emulator = Pick<Awaited<ReturnType<typeof startEmulator>>, 'couchUrl' | 'accountsUrl' | 'apiUrl' | 'bearerFor' | 'stop'>;

/** A fetch that counts requests and request body bytes, by kind. */
export function countingFetch() {
  const counts = { requests: 0, writes: 0, bodyBytes: 0 };
  const fetchFn: typeof fetch = (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    counts.requests++;
    if (method === 'PUT' || method === 'POST') {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!/_revs_diff|_bulk_get|_all_docs|_changes|_local/.test(url)) counts.writes++;
      if (typeof init?.body === 'string') counts.bodyBytes += Buffer.byteLength(init.body);
    }
    return fetch(input, init);
  };
  return { fetch: fetchFn, counts };
}

export async function proxyHeaders(emu: Emulator, user: string): Promise<{ headers: Record<string, string>; dbname: string }> {
  const res = await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  return ((await res.json()) as { data: { headers: Record<string, string>; dbname: string } }).data;
}

/**
 * A user's server database as a plain client reaches it: signed up (through a remote-mode client), its URL, and a fetch
 * that adds the proxy headers the accounts service issues (for raw PouchDB baselines).
 */
export async function rawRemote(emu: Emulator, user: string): Promise<{ fetchFn: typeof fetch; dbUrl: string }> {
  const warm = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  await warm.ready();
  await warm.close();
  const { headers, dbname } = await proxyHeaders(emu, user);
  const fetchFn: typeof fetch = (url, init) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(url, { ...init, headers: h });
  };
  return { fetchFn, dbUrl: `${emu.couchUrl}/${encodeURIComponent(dbname)}` };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);
