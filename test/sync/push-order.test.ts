/**
 * A big value's chunks are written to the replica before its manifest, in another turn: the live push may send them in
 * two `_bulk_docs` at once. Were the manifest's request to land while the chunks' is held, then fails (a reset, a slow
 * uplink cut off, the tab closed), the server would hold a manifest without its chunks: every other device reading
 * the key gets `not_found` until this one comes back — if it ever does. (A guard: it passes as the push is — one
 * of the crash attacks saw a manifest without its chunks once on the server, not reproduced since.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

const LIMIT = 200_000;
const client = (user: string, couchUrl: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maxRequestBytes: LIMIT, ...extra } as FeatClientOptions));

const read = (c: FeatClient, key: string) =>
  c.store.get<string>(key).then(
    (v) => (v === undefined ? 'absent' : `len ${v.length}`),
    (e: unknown) => (isFeatError(e) ? `rejected ${e.code}` : `rejected ${String(e)}`),
  );

describe('a big value pushed while the request carrying its chunks is held', () => {
  it('the manifest never lands before its chunks: another device reads nothing (not a torn value), then the whole value', async () => {
    const user = uniqueUser('push-order');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    const A = client(user, proxy.url, { local: { adapter: 'memory' } });
    await A.ready();
    await A.store.set('warm', 1);
    await A.sync.waitForPush({ timeout: 10_000 });
    // The next `_bulk_docs` (the chunks, written first) is held; the ones after it pass.
    proxy.fault({ method: 'POST', path: /_bulk_docs$/ }, 'hold', { times: 1 });
    const V = text(600_000, 5);
    await A.store.set('big', V);
    await waitFor(() => proxy.held > 0, 10_000, 'the chunks held');
    // Time for a second request to go (before the fix the manifest went, alone).
    await sleep(1_500);
    const reader = client(user, emu.couchUrl, { mode: 'remote', maxRequestBytes: 0 });
    expect(await read(reader, 'big')).toBe('absent');
    // The held request is cut off: the push sends again, chunks then manifest.
    proxy.release();
    await A.sync.waitForPush({ timeout: 60_000 });
    expect(await read(reader, 'big')).toBe(`len ${V.length}`);
  }, 120_000);
});
