import type { startEmulator } from '@feat/emulator';

export type Emulator = Awaited<ReturnType<typeof startEmulator>>;

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

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);
