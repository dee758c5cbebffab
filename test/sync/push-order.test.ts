/**
 * A big value's chunks are written to the replica before its manifest, in another turn: the live push may send them in
 * two `_bulk_docs` at once. Were the manifest's request to land while the chunks' is held, then fails (a reset, a slow
 * uplink cut off, the tab closed), the server would hold a manifest without its chunks: every other device reading
 * the key gets `not_found` until this one comes back — if it ever does. (One of the crash attacks saw a manifest
 * without its chunks once on the server; the tests below make it happen: live-push.ts now sends a manifest only once
 * its batch's other documents and every earlier batch in flight are stored.)
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

/**
 * The guard above passes by luck: its value's chunks reach the push in two turns, two batches that fill the IN_FLIGHT
 * window, and the window frees a slot only when its oldest batch is stored — the manifest waits behind the chunks held.
 * A value whose only new chunk is one document (a big value edited at its end: the chunks before the last cut are
 * the same, content-addressed, on the server already) leaves the second slot to the manifest.
 */
describe('a big value edited at its end while its new chunk is held', () => {
  it('the manifest waits for the chunk: another device reads the old value (not not_found), then the new one', async () => {
    const user = uniqueUser('push-order-edit');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    const A = client(user, proxy.url, { local: { adapter: 'memory' } });
    await A.ready();
    const V = text(300_000, 7);
    await A.store.set('big', V);
    await A.sync.waitForPush({ timeout: 30_000 });
    const reader = client(user, emu.couchUrl, { mode: 'remote', maxRequestBytes: 0 });
    expect(await read(reader, 'big')).toBe(`len ${V.length}`);
    const sent = proxy.log.length;
    // The next `_bulk_docs` (the new last chunk, written first) is held; the ones after it pass.
    proxy.fault({ method: 'POST', path: /_bulk_docs$/ }, 'hold', { times: 1 });
    const W = `${V}and a few more words at the end`;
    await A.store.set('big', W);
    await waitFor(() => proxy.held > 0, 10_000, 'the new chunk held');
    // Time for the manifest's request to go (before the fix it went, alone, and was stored).
    await sleep(1_500);
    expect(await read(reader, 'big')).toBe(`len ${V.length}`);
    const bulk = proxy.log.slice(sent).filter((r) => r.path.endsWith('/_bulk_docs'));
    expect(bulk.map((r) => r.action)).toEqual(['hold']);
    // The held request is cut off: the push sends again, chunk then manifest.
    proxy.release();
    await A.sync.waitForPush({ timeout: 60_000 });
    expect(await read(reader, 'big')).toBe(`len ${W.length}`);
  }, 120_000);
});

/**
 * Chunks and manifest in one `_bulk_docs` (the catch-up after a pause sends what was written meanwhile in one batch):
 * over `maxRequestBytes` the body goes in parts, one after the other (transport/body-limit.ts), chunks first. A part
 * refused (here a 400 from a middlebox) is reported per document and the next parts still go: the manifest's part was
 * stored after its chunks' part failed.
 */
describe('a big value whose chunks and manifest go in one `_bulk_docs`, in parts', () => {
  it('the part with the manifest is not sent when the chunks\' part failed', async () => {
    const user = uniqueUser('push-order-parts');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    // A low limit: small chunks, and a body of them in several parts.
    const A = client(user, proxy.url, { local: { adapter: 'memory' }, maxRequestBytes: 16_384 });
    await A.ready();
    await A.store.set('warm', 1);
    await A.sync.waitForPush({ timeout: 10_000 });
    A.sync.pause();
    await waitFor(() => A.sync.status === 'paused', 10_000, 'sync paused');
    const V = text(100_000, 11);
    await A.store.set('big', V);
    // The first part (chunks) is refused. Once the push has failed (every part of that body is sent by then), the
    // next `_bulk_docs` are held (the resend comes after a backoff of 400 ms or more): nothing repairs the server
    // before the reader looks.
    proxy.fault({ method: 'POST', path: /_bulk_docs$/ }, 'answer', { times: 1, status: 400, body: { error: 'bad_request', reason: 'fault proxy' } });
    let failed = false;
    const off = A.sync.on('status', (status) => void (failed ||= status === 'error' || status === 'offline'));
    const holding = proxy.fault((r) => failed && r.method === 'POST' && r.path.endsWith('/_bulk_docs'), 'hold');
    A.sync.resume();
    await waitFor(() => failed, 10_000, 'the push failed');
    off();
    // Several parts, the first refused (before the fix the next ones went, the manifest's last).
    const bulk = proxy.log.filter((r) => r.path.endsWith('/_bulk_docs') && r.action !== 'pass');
    expect(bulk[0]?.action).toBe('answer');
    await sleep(1_500);
    const reader = client(user, emu.couchUrl, { mode: 'remote', maxRequestBytes: 0 });
    expect(await read(reader, 'big')).toBe('absent');
    holding();
    proxy.release();
    await A.sync.waitForPush({ timeout: 60_000 });
    expect(await read(reader, 'big')).toBe(`len ${V.length}`);
  }, 120_000);
});
