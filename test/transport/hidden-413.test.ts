/**
 * A proxy whose body limit is below `maxRequestBytes`, seen from a browser page on another origin: nginx's 413 carries
 * no CORS headers, so `fetch` rejects as if offline (measured in Chromium against the deployment's nginx). Modelled
 * here by a proxy that drops the connection of every big `_bulk_docs`: a big body failing as the network does while
 * the server answers a small request is taken as the 413 it hides — split, or `too_large` for one document — instead
 * of `network` for ever (remote writes failing, live push wedged on the same batch, status `offline` while online).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';
import { raw } from '../support/devices.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);
const LIMIT = 200_000;
const bigBulk = (r: { method: string; path: string; bytes?: number | undefined }) => r.method === 'POST' && r.path.endsWith('/_bulk_docs') && (r.bytes ?? 0) > LIMIT;

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
