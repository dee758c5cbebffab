/**
 * Aborting a typed REST call while ky waits to retry a 503/429 rejects `aborted` at once, and nothing else escapes: the
 * retried answer's body (kept by ky, teed by the clone it hands the afterResponse hooks) used to be errored by the abort,
 * and that AbortError surfaced as an unhandled rejection (fatal to a Node process with default settings).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createFeatApi } from '@feat/sdk/api';
import { isFeatError } from '@feat/sdk';
import { sleep } from '../support/backend.js';

let server: Server | undefined;
let hits = 0;

async function serve(status: number, retryAfter: string): Promise<string> {
  hits = 0;
  server = createServer((_req, res) => {
    hits++;
    res.writeHead(status, { 'Content-Type': 'application/json', ...(retryAfter ? { 'Retry-After': retryAfter } : {}) });
    res.end('{"detail":"busy"}');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

it.each([
  { name: '503 + Retry-After: 2', status: 503, retryAfter: '2', waitMs: 500 },
  { name: '503 without Retry-After (backoff)', status: 503, retryAfter: '', waitMs: 150 },
  { name: '429 + Retry-After: 2', status: 429, retryAfter: '2', waitMs: 500 },
])('abort during the retry wait of a $name: rejects aborted at once, no unhandled rejection', async ({ status, retryAfter, waitMs }) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const api = createFeatApi({ apiUrl: await serve(status, retryAfter), auth: 'Bearer x', retry: { limit: 3, backoffLimit: 10_000 } });
    const ac = new AbortController();
    const p = api.activity.commentCount({ target_type: 400 }, { signal: ac.signal }).catch((e: unknown) => e);
    await sleep(waitMs);
    expect(hits).toBeGreaterThan(0);
    const t0 = Date.now();
    ac.abort();
    const e = await p;
    expect(Date.now() - t0).toBeLessThan(500);
    expect(isFeatError(e) && e.code).toBe('aborted');
    // The escaped rejection came a tick or more after the call's own.
    await sleep(1_000);
    expect(unhandled.map(String)).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}, 20_000);

it('a 503 that is retried until the limit still rejects with the server reason of its last answer', async () => {
  const api = createFeatApi({ apiUrl: await serve(503, '0'), auth: 'Bearer x', retry: { limit: 2, backoffLimit: 50 } });
  const e = await api.activity.commentCount({ target_type: 400 }).catch((x: unknown) => x);
  expect(isFeatError(e) && e.code).toBe('server');
  expect(String((e as Error).message)).toContain('busy');
  expect(hits).toBe(3);
}, 20_000);
