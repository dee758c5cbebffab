/**
 * A proxy whose body limit is below `maxRequestBytes`, seen from a browser page on another origin: nginx's 413 carries
 * no CORS headers, so `fetch` rejects as if offline (measured in Chromium against the deployment's nginx). Modelled
 * here by a proxy that drops the connection of every big `_bulk_docs`, with `location.origin` set as a page's: a big
 * body failing as the network does, twice, while the server answers a small request is taken as the 413 it hides —
 * split, or `too_large` for one document — instead of `network` for ever (remote writes failing, live push wedged on
 * the same batch, status `offline` while online). A reset on a flaky link (once) is not: the body is sent again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';
import { raw } from '../support/devices.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);
const LIMIT = 200_000;
const bigBulk = (r: { method: string; path: string; bytes?: number | undefined }) => r.method === 'POST' && r.path.endsWith('/_bulk_docs') && (r.bytes ?? 0) > LIMIT;

// A page on its own origin (in Node, and on the server's own origin, a 413 is read as such: no guess is made).
const g = globalThis as { location?: unknown };
beforeEach(() => {
  g.location = { origin: 'http://localhost:5173' };
});
afterEach(() => {
  delete g.location;
});

function client(user: string, extra: Partial<FeatClientOptions>) {
  return emu.track(createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maintenance: { enabled: false }, ...extra } as FeatClientOptions));
}

describe('a proxy 413 a browser cannot read (the connection fails instead)', () => {
  it('remote: a value over the proxy limit is refused too_large (not network); parts over it in one request are split', async () => {
    const c = client(uniqueUser('h413'), { mode: 'remote' });
    await c.ready();
    proxy.fault(bigBulk, 'reset');
    const big = await c.store.set('big', text(400_000, 3)).then(
      () => 'resolved',
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
    expect(big).toMatch(/^too_large: .*proxy/);
    const parts = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, text(60_000, i + 10)]));
    await c.store.setParts('art', parts);
    proxy.clear();
    expect(await c.store.getParts('art')).toEqual(parts);
  }, 60_000);

  it('local-first: six 60 KB values written offline reach the server (the push splits its batch), status not offline', async () => {
    const user = uniqueUser('h413');
    const c = client(user, { local: { adapter: 'memory' } });
    await c.ready();
    c.sync.pause();
    const values = Array.from({ length: 6 }, (_, i) => text(60_000, i + 20));
    for (const [i, v] of values.entries()) await c.store.set(`k${i}`, v);
    proxy.fault(bigBulk, 'reset');
    c.sync.resume();
    await c.sync.waitForPush({ timeout: 20_000 });
    proxy.clear();
    expect(c.sync.status).not.toBe('offline');
    const server = await raw(emu, user);
    for (const [i, v] of values.entries()) expect((await server.doc(`k${i}`)).body.doc).toBe(v);
  }, 60_000);

  it('really offline (every request fails): a big write is network, not too_large', async () => {
    const c = client(uniqueUser('h413'), { mode: 'remote', requestTimeout: 3_000 });
    await c.ready();
    proxy.fault(() => true, 'reset');
    const big = await c.store.set('big', text(400_000, 4)).then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    proxy.clear();
    expect(big).toBe('network');
    await waitFor(async () => (await c.store.set('small', 1).then(() => true, () => false)), 10_000, 'back');
  }, 60_000);
});

const bigUpload = (r: { method: string; path: string; bytes?: number | undefined }) => r.method === 'POST' && r.path.endsWith('/_bulk_docs') && (r.bytes ?? 0) > 64 * 1024;

describe('a flaky link in a page on another origin (not a 413): the body is sent again, not refused', () => {
  it('remote: a 100 KB write whose upload is reset twice is not refused too_large (the proxy takes it)', async () => {
    const c = client(uniqueUser('s26r'), { mode: 'remote' });
    await c.ready();
    proxy.clear();
    proxy.fault(bigUpload, 'reset', { times: 2 });
    const value = text(100_000, 7);
    const out = await c.store.set('v', value).then(
      () => 'resolved',
      (e: FeatError) => `${e.code}: ${e.message}`,
    );
    proxy.clear();
    // The same body passes the proxy right after: it was never too large.
    expect(await c.store.set('v2', value).then(() => 'ok', (e: FeatError) => e.code)).toBe('ok');
    expect(out).toBe('resolved');
  }, 30_000);

  it('remote: an upload stored by the server whose answer is lost twice: resolved, the value there', async () => {
    const user = uniqueUser('s26a');
    const c = client(user, { mode: 'remote' });
    await c.ready();
    proxy.clear();
    proxy.fault(bigUpload, 'reset-after', { times: 2 });
    const value = text(100_000, 11);
    const out = await c.store.set('w', value).then(
      () => 'resolved',
      (e: FeatError) => e.code,
    );
    proxy.clear();
    const server = await raw(emu, user);
    const stored = (await server.doc('w')).body.doc === value;
    expect({ out, stored }).toEqual({ out: 'resolved', stored: true });
  }, 30_000);

  it('local-first: a 100 KB value pushed over a link that resets it twice: no too_large error, status never error', async () => {
    const user = uniqueUser('s26l');
    const c = client(user, { local: { adapter: 'memory' } });
    const errors: FeatError[] = [];
    const statuses: string[] = [];
    c.sync.on('error', (e) => errors.push(e));
    c.sync.on('status', (s) => statuses.push(s));
    await c.ready();
    proxy.clear();
    proxy.fault(bigUpload, 'reset', { times: 2 });
    const value = text(100_000, 9);
    await c.store.set('v', value);
    await c.sync.waitForPush({ timeout: 20_000 });
    await sleep(200);
    proxy.clear();
    const server = await raw(emu, user);
    expect((await server.doc('v')).body.doc).toBe(value);
    expect(errors.map((e) => `${e.code} ${e.key ?? ''}: ${e.message}`)).toEqual([]);
    expect(statuses).not.toContain('error');
  }, 30_000);
});

it('the look at the server unanswered (a hung GET): the write ends network within the request timeout, never too_large', async () => {
  let probing = false;
  const pageFetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (probing && url.includes('/_bulk_docs')) throw new TypeError('Failed to fetch');
    if (probing && new URL(url).pathname.split('/').filter(Boolean).length === 1 && (init?.method ?? 'GET') === 'GET') {
      return new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('The operation was aborted', 'AbortError'))));
    }
    return fetch(input, init);
  };
  const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('h413')), mode: 'remote', requestTimeout: 2_000, fetch: pageFetch } as FeatClientOptions));
  await c.ready();
  probing = true;
  const t = Date.now();
  const out = await c.store.set('big', text(100_000, 5)).then(
    () => 'resolved',
    (e: FeatError) => e.code,
  );
  expect({ out, bounded: Date.now() - t < 6_000 }).toEqual({ out: 'network', bounded: true });
}, 30_000);
